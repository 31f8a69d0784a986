// CallHost (what every server connection does with calls) and AuthzPolicy, by name: a host of
// our own over a real loopback socket admits, refuses, dispatches and completes calls of the
// example Echo service; the policy parses rules, refuses bad ones naming the key, and decides.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include <memory>
#include <string>
#include <vector>

#include "authz_policy.h"
#include "call_host.h"
#include "connection_life.h"
#include "echo_service.h"
#include "test_services.h"
#include "loopback_pair.h"
#include "server_call.h"
#include "server_shared.h"

namespace krpc::node {
namespace {
using Clock = std::chrono::steady_clock;

class NoopObserver final : public ServerObserver {};

// A CallHost whose replies are recorded instead of written.
class TestHost final : public CallHost, private ConnectionLife::Ops, public std::enable_shared_from_this<TestHost> {
 public:
  TestHost(std::shared_ptr<ServerShared> shared, boost::asio::io_context& io, net::Stream stream)
      : CallHost(std::move(shared), io.get_executor(), 1, Protocol::kKrpc),
        stream_(std::move(stream)),
        life_(*this, shared_, executor_, {"test", std::chrono::hours(1), false}) {}

  ServerCall* Call(uint64_t id, std::string_view method, uint64_t timeout_us = 0, bool refusing = false,
                   Clock::time_point arrival = Clock::now()) {
    return Admit(id, method, timeout_us, arrival, refusing);
  }
  void Run(ServerCall* call) { Dispatch(call); }
  void Cancel(uint64_t id) {
    if (auto* c = FindUnfinished(id)) CancelCall(c);
  }
  int64_t inflight() const { return inflight_; }

  std::vector<std::pair<uint64_t, StatusCode>> rejected;
  std::vector<std::pair<uint64_t, Status>> completed;

  void Start(Refusal) override {}
  void Goaway() override {}
  void Complete(ServerCall* call) override {
    completed.emplace_back(call->call_id(), call->status());
    Finish(call);
  }

 private:
  std::shared_ptr<CallHost> HostRef() override { return shared_from_this(); }
  ConnectionLife& Life() override { return life_; }
  void Reject(uint64_t id, StatusCode code, std::string, int) override { rejected.emplace_back(id, code); }
  // ConnectionLife::Ops (the lifecycle is not exercised here)
  std::shared_ptr<ConnectionLife> LifeRef() override { return {shared_from_this(), &life_}; }
  net::Stream& Transport() override { return stream_; }
  bool FlushOutput() override { return true; }
  Clock::time_point LastReceived() const override { return Clock::now(); }
  bool HasWork() const override { return inflight_ > 0; }
  bool OnTick(Clock::time_point) override { return true; }
  void ReleaseIdleBuffers() override {}
  bool QueueIdleGoodbye() override { return false; }
  void OnClosed() override { CancelUnfinished(); }

  net::Stream stream_;
  ConnectionLife life_;
};

class CallHostTest : public ::testing::Test {
 protected:
  void SetUp() override {
    shared_->observer = std::make_shared<NoopObserver>();
    shared_->options.max_inflight = 2;
    // No I/O pool runs here: the test's own thread is the host's, as after a server stopped its
    // loops (completions then run inline; the owning-thread checks of debug builds hold).
    shared_->loops_running = false;
    ASSERT_TRUE(shared_->methods.Add(&echo_).ok());
  }
  std::shared_ptr<TestHost> Host() {
    return std::make_shared<TestHost>(shared_, pair_.io, net::Stream(std::move(pair_.ours)));
  }
  std::shared_ptr<ServerShared> shared_ = std::make_shared<ServerShared>();
  krpc::testing::ScriptedEcho echo_;  // counts its calls; answers inline
  net::testing::LoopbackPair pair_;
};

constexpr std::string_view kEcho = "/krpc.examples.EchoService/Echo";

TEST_F(CallHostTest, an_unknown_method_is_refused_unimplemented_and_counted) {
  auto host = Host();
  EXPECT_EQ(host->Call(1, "/no.Such/Method"), nullptr);
  ASSERT_EQ(host->rejected.size(), 1u);
  EXPECT_EQ(host->rejected[0].second, StatusCode::kUnimplemented);
  EXPECT_EQ(shared_->calls_total.load(), 1u);
  EXPECT_EQ(shared_->inflight.load(), 0);
}

TEST_F(CallHostTest, refusals_come_before_any_handler_work_in_their_order) {
  auto host = Host();
  EXPECT_EQ(host->Call(1, kEcho, 0, /*refusing=*/true), nullptr);
  EXPECT_EQ(host->Call(2, kEcho, /*timeout_us=*/1000, false, Clock::now() - std::chrono::seconds(1)), nullptr);
  ASSERT_EQ(host->rejected.size(), 2u);
  EXPECT_EQ(host->rejected[0].second, StatusCode::kUnavailable) << "draining";
  EXPECT_EQ(host->rejected[1].second, StatusCode::kDeadlineExceeded) << "expired on arrival";
  EXPECT_EQ(echo_.calls.load(), 0) << "no handler ran";
}

TEST_F(CallHostTest, max_inflight_refuses_the_call_beyond_it_and_a_finished_call_frees_its_slot) {
  auto host = Host();
  ServerCall* a = host->Call(1, kEcho);
  ServerCall* b = host->Call(2, kEcho);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(host->Call(3, kEcho), nullptr);
  ASSERT_EQ(host->rejected.size(), 1u);
  EXPECT_EQ(host->rejected[0].second, StatusCode::kResourceExhausted);
  EXPECT_EQ(shared_->inflight.load(), 2);
  host->Run(a);  // the echo handler answers at once; the reply is completed on the host's loop
  ASSERT_TRUE(pair_.RunUntil([&] { return host->completed.size() == 1; }));
  EXPECT_TRUE(host->completed[0].second.ok()) << host->completed[0].second;
  EXPECT_EQ(shared_->inflight.load(), 1);
  ServerCall* d = host->Call(4, kEcho);
  EXPECT_NE(d, nullptr) << "the slot is free again";
  host->Run(b);
  if (d) host->Run(d);
  ASSERT_TRUE(pair_.RunUntil([&] { return host->completed.size() == 3; }));
  EXPECT_EQ(shared_->inflight.load(), 0);
  EXPECT_EQ(host->inflight(), 0);
}

TEST_F(CallHostTest, authz_refuses_an_unauthenticated_peer_where_the_default_is_deny) {
  AuthzPolicy policy;
  ASSERT_TRUE(policy.Parse("", /*default_deny=*/true, shared_->methods).ok());
  policy.Apply(shared_->methods);
  auto host = Host();
  EXPECT_EQ(host->Call(1, kEcho), nullptr);
  ASSERT_EQ(host->rejected.size(), 1u);
  EXPECT_EQ(host->rejected[0].second, StatusCode::kPermissionDenied);
  EXPECT_EQ(shared_->authz_denied.load(), 1u);
  EXPECT_EQ(echo_.calls.load(), 0);
}

TEST(AuthzPolicyTest, rules_name_services_or_methods_and_a_method_rule_overrides_its_service) {
  MethodTable methods;
  examples::EchoServiceImpl echo;
  ASSERT_TRUE(methods.Add(&echo).ok());
  AuthzPolicy policy;
  ASSERT_TRUE(policy
                  .Parse("krpc.examples.EchoService=spiffe://t/client/*;krpc.examples.EchoService/Echo=spiffe://t/admin",
                         false, methods)
                  .ok());
  policy.Apply(methods);
  PeerIdentity admin{true, "CN=admin", {"spiffe://t/admin"}};
  PeerIdentity client{true, "CN=c", {"spiffe://t/client/7"}};
  PeerIdentity nobody;
  const MethodEntry* echo_method = methods.Find(kEcho);
  ASSERT_NE(echo_method, nullptr);
  EXPECT_TRUE(AuthzPolicy::Allows(*echo_method, admin));
  EXPECT_FALSE(AuthzPolicy::Allows(*echo_method, client)) << "the method's own rule wins over the service's";
  EXPECT_FALSE(AuthzPolicy::Allows(*echo_method, nobody));
}

TEST(AuthzPolicyTest, malformed_rules_and_unknown_targets_are_refused_naming_the_key) {
  MethodTable methods;
  examples::EchoServiceImpl echo;
  ASSERT_TRUE(methods.Add(&echo).ok());
  for (const char* bad : {"krpc.examples.EchoService", "no.Such=x", "krpc.examples.EchoService/Nope=x",
                          "krpc.examples.EchoService=,"}) {
    AuthzPolicy policy;
    const Status s = policy.Parse(bad, false, methods);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(s.message().find("'authz_allow'"), std::string::npos) << s;
  }
}

}  // namespace
}  // namespace krpc::node
