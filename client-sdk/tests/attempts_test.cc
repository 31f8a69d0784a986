// A call's attempts against real servers: hedging around a slow server (and its budget),
// per-try timeouts with CANCEL on a server that stops answering one method, a frozen server
// process (SIGSTOP of a child krpc-node), and latency outlier ejection. Every wait is on a
// condition; no assertion depends on how fast this machine is.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <fstream>

#include "examples/user.pb.h"
#include "eventually.h"
#include "krpc/channel.h"
#include "krpc/client_runtime.h"
#include "krpc/server_controller.h"
#include "test_nodes.h"
#include "user_service.h"
#include "zk_server.h"

namespace krpc {
namespace {
using namespace std::chrono_literals;
using testing::Eventually;
using testing::RefusingPort;
using testing::RunEcho;
using testing::TestNode;

// Echo that can stop answering: a hung call is answered only when the client cancels it.
class GateEcho final : public examples::EchoService {
 public:
  void Echo(google::protobuf::RpcController* c, const examples::EchoRequest* req, examples::EchoResponse* resp,
            google::protobuf::Closure* done) override {
    if (!hang.load()) {
      resp->set_payload(req->payload());
      done->Run();
      return;
    }
    static_cast<ServerController*>(c)->NotifyOnCancel(google::protobuf::NewCallback(
        +[](GateEcho* self, google::protobuf::Closure* d) {
          self->cancels.fetch_add(1);
          d->Run();
        },
        this, done));
  }
  std::atomic<bool> hang{false};
  std::atomic<int> cancels{0};
};

class AttemptsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    nodes_[0].Start({&users_[0]}, &gate_);
    nodes_[1].Start({&users_[1]});
    nodes_[2].Start({&users_[2]});
  }
  std::shared_ptr<Channel> Make(ChannelOptions o, std::vector<std::string> extra = {}) {
    std::string target = "static://";
    for (auto& n : nodes_) target += (target.size() > 9 ? "," : "") + n.address();
    for (auto& e : extra) target += "," + e;
    auto ch = Channel::Create(target, o, runtime_);
    EXPECT_TRUE(ch.ok()) << ch.status();
    return ch.value();
  }
  GateEcho gate_;
  examples::UserServiceImpl users_[3];
  TestNode nodes_[3];
  std::shared_ptr<ClientRuntime> runtime_ = ClientRuntime::Create(2);
};

TEST_F(AttemptsTest, a_slow_server_is_hedged_around_and_only_idempotent_calls_are_hedged) {
  ChannelOptions o;
  o.load_balancer = "round_robin";  // the slow server keeps its full share of first attempts
  o.hedging.delay_ms = 20;
  o.hedging.budget_percent = 100;
  o.outlier.stall_min_ms = 600000;  // isolate hedging: no stall detection,
  o.outlier.interval_ms = 0;        // no latency ejection,
  o.breaker.enabled = false;        // no breaker
  auto ch = Make(o);
  nodes_[2].faults->Set({"Echo", StatusCode::kOk, 1.0, 2000, false});  // 2 s, over the 500 ms deadline
  auto r = RunEcho(ch.get(), 150, 3, /*idempotent=*/true, 500ms);
  EXPECT_EQ(r.failed, 0) << "every call that met the slow server was answered by a hedge";
  EXPECT_EQ(r.by.count(nodes_[2].address()), 0u);
  EXPECT_GE(r.hedge_won, 40) << "a third of the first attempts went to the slow server";
  EXPECT_EQ(ch->stats().hedges_won, static_cast<uint64_t>(r.hedge_won));
  EXPECT_GE(ch->stats().hedges, ch->stats().hedges_won);
  auto plain = RunEcho(ch.get(), 30, 3, /*idempotent=*/false, 500ms);
  EXPECT_EQ(plain.hedged, 0) << "a call that may not run twice is never hedged";
  EXPECT_GE(plain.codes[StatusCode::kDeadlineExceeded], 1);
}

TEST_F(AttemptsTest, hedges_stay_within_their_budget) {
  ChannelOptions o;
  o.load_balancer = "round_robin";
  o.hedging.delay_ms = 5;
  o.hedging.budget_percent = 10;
  o.outlier.stall_min_ms = 600000;
  o.outlier.interval_ms = 0;
  o.breaker.enabled = false;
  auto ch = Make(o);
  nodes_[2].faults->Set({"Echo", StatusCode::kOk, 1.0, 100, false});
  auto r = RunEcho(ch.get(), 300, 8, /*idempotent=*/true, 2000ms);
  EXPECT_EQ(r.failed, 0);
  const auto s = ch->stats();
  EXPECT_LE(s.hedges, 300u / 10 + 1) << "at most 10 % extra load";
  EXPECT_GE(s.hedges, 20u) << "the budget was used";
  EXPECT_GT(s.hedge_budget_exhausted, 0u) << "and then refused more";
}

TEST_F(AttemptsTest, per_try_timeout_cancels_the_attempt_and_retries_idempotent_calls_elsewhere) {
  ChannelOptions o;
  o.load_balancer = "round_robin";
  o.hedging.enabled = false;  // per-try timeouts alone
  o.retry.per_try_timeout_ms = 100;
  o.retry.backoff_base_ms = 0;
  auto ch = Make(o);
  gate_.hang = true;  // node 0 stops answering Echo; Login still works there
  auto r = RunEcho(ch.get(), 60, 2, /*idempotent=*/true, 3000ms);
  EXPECT_EQ(r.failed, 0) << "each attempt on the silent server timed out and was retried elsewhere";
  const uint64_t timeouts = ch->stats().per_try_timeouts;
  EXPECT_GE(timeouts, 1u);
  ASSERT_TRUE(Eventually([&] { return gate_.cancels.load() == static_cast<int>(timeouts); }, 10s))
      << "a CANCEL reached the server for each timed-out attempt: " << gate_.cancels.load() << " of " << timeouts;
  examples::UserService_Stub users(ch.get());
  int logins_ok = 0;
  std::set<std::string> login_endpoints;
  for (int i = 0; i < 30; ++i) {
    Controller cntl;
    examples::LoginRequest req;
    req.set_name("nobody");
    examples::LoginResponse resp;
    users.Login(&cntl, &req, &resp, nullptr);
    if (!cntl.Failed()) {
      ++logins_ok;
      login_endpoints.insert(cntl.remote());
    }
  }
  EXPECT_EQ(logins_ok, 30) << "the other method of the same server still answers";

  // One endpoint only: a non-idempotent call is not retried after its per-try timeout; an
  // idempotent one is, up to max_attempts, and then fails with the last attempt's status.
  auto direct = Channel::Create(nodes_[0].address(), o, runtime_).value();
  examples::EchoService_Stub echo(direct.get());
  for (bool idempotent : {false, true}) {
    Controller cntl;
    cntl.set_timeout(5000ms);
    cntl.set_idempotent(idempotent);
    examples::EchoRequest req;
    examples::EchoResponse resp;
    echo.Echo(&cntl, &req, &resp, nullptr);
    EXPECT_EQ(cntl.code(), StatusCode::kDeadlineExceeded);
    EXPECT_EQ(cntl.attempts(), idempotent ? 3 : 1);
    EXPECT_NE(cntl.ErrorText().find("per-try timeout"), std::string::npos) << cntl.ErrorText();
  }
}

TEST_F(AttemptsTest, a_frozen_server_process_costs_idempotent_callers_nothing) {
  const uint16_t port = testing::FreePort();
  const std::string port_s = std::to_string(port);
  testing::ChildProcess node;
  testing::SpawnQuiet(KRPC_NODE_BIN, {"--listen_host", "127.0.0.1", "--port", port_s, "--io_threads", "1",
                                      "--log_level", "warn", "--admin_enabled", "false"}, &node);
  const pid_t pid = node.pid;
  const std::string child = "127.0.0.1:" + port_s;
  ChannelOptions o;  // the defaults: p2c, adaptive hedging, stall detection, breakers
  auto ch = Make(o, {child});
  // Warm up until the child answers and Echo has enough samples for an adaptive hedge delay.
  int child_ok = 0;
  ASSERT_TRUE(Eventually([&] {
    auto r = RunEcho(ch.get(), 100, 4, true);
    child_ok += r.by[child];
    return child_ok > 20;
  }, 20s));
  ASSERT_EQ(kill(pid, SIGSTOP), 0);
  // kill() returns before the child has stopped (a child running on the other core may still
  // answer a call): wait until the kernel reports it stopped ('T' in /proc/PID/stat).
  ASSERT_TRUE(Eventually([&] {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    std::getline(stat, line);
    const auto close = line.rfind(')');
    return close != std::string::npos && close + 2 < line.size() && line[close + 2] == 'T';
  }, 10s));
  // Traffic goes on until the frozen endpoint is ejected: no idempotent call may fail.
  int calls = 0, failed = 0, child_answers = 0;
  ASSERT_TRUE(Eventually([&] {
    auto r = RunEcho(ch.get(), 200, 4, /*idempotent=*/true, 1000ms);
    calls += 200;
    failed += r.failed;
    child_answers += r.by[child];
    return testing::BreakerOf(ch.get(), child) != "closed";
  }, 30s)) << "the frozen endpoint's failed health check ejects it";
  EXPECT_EQ(failed, 0) << "of " << calls;
  EXPECT_EQ(child_answers, 0);
  EXPECT_GE(ch->stats().stalls, 1u) << "it was found stalled first";
  ASSERT_EQ(kill(pid, SIGCONT), 0);
  EXPECT_TRUE(Eventually([&] { return testing::BreakerOf(ch.get(), child) == "closed"; }, 30s))
      << "back through half-open probes once it runs again";
  EXPECT_TRUE(Eventually([&] { return RunEcho(ch.get(), 100, 4, true).by[child] > 0; }, 20s)) << "and takes calls";
}

TEST_F(AttemptsTest, a_much_slower_server_is_ejected_as_a_latency_outlier) {
  ChannelOptions o;
  o.load_balancer = "round_robin";  // keeps sending it calls, so only the sweep can act
  o.hedging.enabled = false;
  o.outlier.interval_ms = 200;
  o.outlier.latency_min_ms = 20;
  o.outlier.stall_min_ms = 600000;
  o.breaker.base_isolation_ms = 60000;
  auto ch = Make(o);
  nodes_[1].faults->Set({"Echo", StatusCode::kOk, 1.0, 60, false});
  ASSERT_TRUE(Eventually([&] {
    EXPECT_EQ(RunEcho(ch.get(), 30, 3, true).failed, 0);
    return ch->stats().latency_ejections >= 1;
  }, 30s));
  EXPECT_EQ(testing::BreakerOf(ch.get(), nodes_[1].address()), "open");
  auto r = RunEcho(ch.get(), 60, 3, true);
  EXPECT_EQ(r.failed, 0);
  EXPECT_EQ(r.by.count(nodes_[1].address()), 0u) << "ejected: no calls";
}

TEST_F(AttemptsTest, an_attempt_that_never_ran_is_re_picked_even_without_retries) {
  RefusingPort dead;
  ChannelOptions o;
  o.load_balancer = "round_robin";  // every endpoint gets its turn, the refusing one included
  o.retry.max_attempts = 1;         // no retries: only a transparent re-pick can save a call
  o.hedging.enabled = false;
  auto ch = Make(o, {dead.address()});
  auto r = RunEcho(ch.get(), 8, 1, /*idempotent=*/false);  // writes: a policy retry would need not_executed too
  EXPECT_EQ(r.failed, 0) << "the call that met the refused connect went elsewhere";
  EXPECT_EQ(r.by.count(dead.address()), 0u);
  const auto s = ch->stats();
  EXPECT_GE(s.transparent_retries, 1u) << "a call did pick the refusing endpoint";
  EXPECT_EQ(s.retries, 0u) << "transparent re-picks are not policy retries";
  EXPECT_EQ(r.attempts, 8 + static_cast<int>(s.transparent_retries));
}

TEST(TransparentRetryTest, are_bounded_when_no_endpoint_can_take_the_call) {
  constexpr int kTransparent = 2;  // at most two per call (docs/client.md)
  RefusingPort a, b;
  ChannelOptions o;
  o.retry.max_attempts = 1;
  o.hedging.enabled = false;
  auto ch = Channel::Create("static://" + a.address() + "," + b.address(), o);
  ASSERT_TRUE(ch.ok()) << ch.status();
  examples::EchoService_Stub stub(ch.value().get());
  Controller cntl;
  cntl.set_timeout(10s);
  examples::EchoRequest req;
  examples::EchoResponse resp;
  stub.Echo(&cntl, &req, &resp, nullptr);
  EXPECT_EQ(cntl.code(), StatusCode::kUnavailable) << cntl.ErrorText();
  EXPECT_EQ(cntl.attempts(), 1 + kTransparent);
  EXPECT_EQ(ch.value()->stats().transparent_retries, static_cast<uint64_t>(kTransparent));
}

TEST_F(AttemptsTest, an_unexecuted_refusal_that_is_an_answer_is_not_retried_transparently) {
  ChannelOptions o;
  o.retry.max_attempts = 1;
  o.connection.max_body_bytes = 16;  // refused before sending: RESOURCE_EXHAUSTED, not executed
  auto ch = Make(o);
  examples::EchoService_Stub stub(ch.get());
  Controller cntl;
  cntl.set_timeout(10s);
  examples::EchoRequest req;
  req.set_payload(std::string(64, 'x'));
  examples::EchoResponse resp;
  stub.Echo(&cntl, &req, &resp, nullptr);
  EXPECT_EQ(cntl.code(), StatusCode::kResourceExhausted) << cntl.ErrorText();
  EXPECT_EQ(cntl.attempts(), 1);
  EXPECT_EQ(ch->stats().transparent_retries, 0u);
}

}  // namespace
}  // namespace krpc
