// Resilience scenarios against three live servers whose behaviour is switched at run time
// (FaultInjector: fail with a code, add delay, hang; Shutdown: close the connections).
// The core scenarios run over both static:// and zk:// (a real ZooKeeper) targets.
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <map>
#include <thread>

#include "krpc/channel.h"
#include "krpc/client_runtime.h"
#include "krpc/fault_injector.h"
#include "krpc/registry_publisher.h"
#include "krpc/server.h"
#include "krpc/zk_client.h"
#include "eventually.h"
#include "test_nodes.h"
#include "zk_server.h"

namespace krpc {
namespace {
using namespace std::chrono_literals;
using testing::Eventually;
constexpr const char* kEcho = "krpc.examples.EchoService";

using testing::CountingInjector;
using testing::TestNode;

enum class Discovery { kStatic, kZooKeeper };

class ResilienceTest : public ::testing::TestWithParam<Discovery> {
 protected:
  void SetUp() override {
    for (auto& n : nodes_) n.Start();
    if (GetParam() == Discovery::kZooKeeper) {
      ASSERT_TRUE(zk_.Start());
      zk_client_ = std::make_shared<ZkClient>(ZkOptions{zk_.hosts(), 10000, ""});
      ASSERT_TRUE(zk_client_->Start().ok());
      for (auto& n : nodes_) {
        registry::ProviderInfo self;
        self.endpoint = {"127.0.0.1", n.port};
        n.publisher = std::make_unique<RegistryPublisher>(zk_client_, "/krpc", self, std::vector<std::string>{kEcho});
        n.publisher->Start();
      }
    }
  }
  void TearDown() override {
    for (auto& n : nodes_) n.publisher.reset();
    if (zk_client_) zk_client_->Stop();
  }

  std::shared_ptr<Channel> MakeChannel(ChannelOptions o) {
    o.reconnect.initial_ms = 100;
    std::string target = "static://";
    for (auto& n : nodes_) target += (target.size() > 9 ? "," : "") + n.address();
    if (GetParam() == Discovery::kZooKeeper) target = "zk://" + zk_.hosts() + "/krpc";
    auto ch = Channel::Create(target, o, runtime_);
    EXPECT_TRUE(ch.ok()) << ch.status();
    EXPECT_TRUE(ch.value()->WaitForEndpoints(kEcho, 10s).ok());
    const auto until = std::chrono::steady_clock::now() + 10s;
    while (ch.value()->Endpoints().size() < 3 && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(10ms);
    return ch.value();
  }

  using Result = testing::CallTally;
  Result Run(Channel* ch, int n, int parallel = 1, bool idempotent = false, std::chrono::milliseconds timeout = 1000ms) {
    return testing::RunEcho(ch, n, parallel, idempotent, timeout);
  }
  std::string Breaker(Channel* ch, const TestNode& n) { return testing::BreakerOf(ch, n.address()); }

  TestNode nodes_[3];
  testing::ZkServer zk_;
  std::shared_ptr<ZkClient> zk_client_;
  std::shared_ptr<ClientRuntime> runtime_ = ClientRuntime::Create(2);
};

TEST_P(ResilienceTest, round_robin_spreads_300_calls_evenly) {
  ChannelOptions o;
  o.load_balancer = "round_robin";
  // Only the balancer is under test: on a loaded (sanitized) machine a node registered late
  // would be in slow start, and a slow answer could look like a stall or a latency outlier.
  o.outlier.slow_start_ms = 0;
  o.outlier.stall_min_ms = 60000;
  o.outlier.interval_ms = 0;
  auto ch = MakeChannel(o);
  auto r = Run(ch.get(), 300, 3);
  EXPECT_EQ(r.failed, 0);
  for (auto& n : nodes_) {
    EXPECT_GE(r.by[n.address()], 90) << n.address();
    EXPECT_LE(r.by[n.address()], 110) << n.address();
  }
}

TEST_P(ResilienceTest, failing_server_is_isolated_then_rejoins_through_half_open_probes) {
  ChannelOptions o;
  o.load_balancer = "round_robin";
  o.breaker.base_isolation_ms = 300;
  o.outlier.slow_start_ms = 0;  // back to a full share at once (slow start has its own test)
  auto ch = MakeChannel(o);
  nodes_[0].faults->Set({"", StatusCode::kUnavailable, 1.0, 0, false});
  auto r = Run(ch.get(), 300, 1, /*idempotent=*/true);
  EXPECT_EQ(r.failed, 0) << "retries land elsewhere";
  EXPECT_LE(nodes_[0].faults->calls.load(), 5 + 3) << "isolated after the 5th consecutive failure (+probes)";
  EXPECT_NE(Breaker(ch.get(), nodes_[0]), "closed");
  nodes_[0].faults->Clear();
  const int before = nodes_[0].faults->calls.load();
  ASSERT_TRUE(Eventually([&] { return Breaker(ch.get(), nodes_[0]) == "closed"; }, 15s)) << "half-open probes passed";
  auto after = Run(ch.get(), 90, 1);
  EXPECT_EQ(after.failed, 0);
  EXPECT_GE(after.by[nodes_[0].address()], 25) << "back in rotation";
  EXPECT_GT(nodes_[0].faults->calls.load(), before);
}

TEST_P(ResilienceTest, killed_server_costs_idempotent_callers_nothing) {
  auto ch = MakeChannel({});
  EXPECT_EQ(Run(ch.get(), 30, 3).failed, 0);
  nodes_[1].server->Shutdown(0ms);
  auto r = Run(ch.get(), 300, 4, /*idempotent=*/true);
  EXPECT_EQ(r.failed, 0) << "every call retried elsewhere; first failure code " << (r.codes.empty() ? "-" : std::string(StatusCodeName(r.codes.begin()->first)));
  EXPECT_EQ(r.by.count(nodes_[1].address()), 0u);
  // Calls that met the killed server went elsewhere: by policy retries (a call that may have
  // run) or transparently (refused connects, a closing connection: never sent).
  const auto s = ch->stats();
  EXPECT_GT(s.retries + s.transparent_retries, 0u);
}

INSTANTIATE_TEST_SUITE_P(Targets, ResilienceTest, ::testing::Values(Discovery::kStatic, Discovery::kZooKeeper),
                         [](const auto& info) { return info.param == Discovery::kStatic ? "static" : "zookeeper"; });

class StaticResilienceTest : public ResilienceTest {};

TEST_P(StaticResilienceTest, hanging_server_trips_its_breaker_through_timeouts) {
  ChannelOptions o;
  o.load_balancer = "round_robin";
  o.breaker.base_isolation_ms = 5000;
  auto ch = MakeChannel(o);
  nodes_[2].faults->Set({"", StatusCode::kOk, 1.0, 0, true});  // accepts, never answers
  auto r = Run(ch.get(), 60, 1, false, 100ms);
  // The first timeout makes the endpoint suspect and, unanswered, stalled: picks skip it at
  // once, and the health probe (which hangs too) fails and opens the breaker.
  EXPECT_GE(r.codes[StatusCode::kDeadlineExceeded], 1);
  EXPECT_LE(r.codes[StatusCode::kDeadlineExceeded], 5);
  EXPECT_TRUE(Eventually([&] { return Breaker(ch.get(), nodes_[2]) == "open"; }, 10s));
  auto later = Run(ch.get(), 50, 1, false, 100ms);
  EXPECT_EQ(later.failed, 0);
}

TEST_P(StaticResilienceTest, retries_stay_within_the_budget_when_every_server_fails) {
  ChannelOptions o;
  o.breaker.enabled = false;  // measure the budget alone
  o.retry.backoff_base_ms = 0;
  o.retry.max_attempts = 3;
  auto ch = MakeChannel(o);
  for (auto& n : nodes_) n.faults->Set({"", StatusCode::kUnavailable, 1.0, 0, false});
  const int before = nodes_[0].faults->calls + nodes_[1].faults->calls + nodes_[2].faults->calls;
  auto r = Run(ch.get(), 500, 4, /*idempotent=*/true);
  const int attempts = nodes_[0].faults->calls + nodes_[1].faults->calls + nodes_[2].faults->calls - before;
  EXPECT_EQ(r.failed, 500);
  // Budget: 20 % of 500 requests + 10/s over 10 s = 200 retries (without it: 1000).
  EXPECT_LE(attempts, 500 + 200 + 5);
  EXPECT_GE(attempts, 500 + 150);
  EXPECT_GT(ch->stats().retry_budget_exhausted, 0u);
}

TEST_P(StaticResilienceTest, p2c_sends_clearly_less_traffic_to_a_slow_server) {
  auto ch = MakeChannel({});  // p2c is the default
  nodes_[2].faults->Set({"", StatusCode::kOk, 1.0, 50, false});
  auto r = Run(ch.get(), 600, 8);
  EXPECT_EQ(r.failed, 0);
  const int slow = r.by[nodes_[2].address()];
  EXPECT_LT(slow, 600 / 10) << "a third would be 200";
  EXPECT_GT(r.by[nodes_[0].address()], 200);
  EXPECT_GT(r.by[nodes_[1].address()], 200);
}

TEST_P(StaticResilienceTest, consistent_hash_keeps_a_key_on_one_endpoint) {
  ChannelOptions o;
  o.load_balancer = "consistent_hash";
  auto ch = MakeChannel(o);
  examples::EchoService_Stub stub(ch.get());
  std::map<uint64_t, std::set<std::string>> seen;
  for (uint64_t key = 0; key < 30; ++key) {
    for (int i = 0; i < 5; ++i) {
      Controller cntl;
      cntl.set_request_key(key);
      examples::EchoRequest req;
      examples::EchoResponse resp;
      stub.Echo(&cntl, &req, &resp, nullptr);
      ASSERT_FALSE(cntl.Failed()) << cntl.ErrorText();
      seen[key].insert(cntl.remote());
    }
  }
  std::set<std::string> used;
  for (auto& [k, s] : seen) {
    EXPECT_EQ(s.size(), 1u) << "key " << k;
    used.insert(*s.begin());
  }
  EXPECT_EQ(used.size(), 3u) << "keys spread over all endpoints";
}

TEST_P(StaticResilienceTest, ejection_cap_holds_with_two_of_three_failing) {
  ChannelOptions o;
  o.load_balancer = "round_robin";
  o.breaker.base_isolation_ms = 10000;
  auto ch = MakeChannel(o);
  nodes_[0].faults->Set({"", StatusCode::kUnavailable, 1.0, 0, false});
  nodes_[1].faults->Set({"", StatusCode::kUnavailable, 1.0, 0, false});
  int max_open = 0;
  for (int round = 0; round < 10; ++round) {
    Run(ch.get(), 20, 1, true);
    int open = 0;
    for (const auto& e : ch->Endpoints()) open += e.breaker != BreakerState::kClosed;
    max_open = std::max(max_open, open);
  }
  EXPECT_EQ(max_open, 1) << "at most 50 % of 3 endpoints ejected";
  EXPECT_GT(ch->stats().ejections_refused, 0u);
  EXPECT_EQ(Breaker(ch.get(), nodes_[2]), "closed");
}

INSTANTIATE_TEST_SUITE_P(Static, StaticResilienceTest, ::testing::Values(Discovery::kStatic),
                         [](const auto&) { return "static"; });

}  // namespace
}  // namespace krpc
