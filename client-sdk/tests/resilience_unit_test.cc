// Unit tests of the resilience pieces with a driven clock: breaker, retry budget, EWMA, pickers.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include <map>
#include <thread>

#include "lb/load_balancer.h"
#include "resilience/circuit_breaker.h"
#include "resilience/latency_ewma.h"
#include "resilience/retry_budget.h"
#include "resilience/retry_policy.h"
#include "examples/echo.pb.h"
#include "endpoint_load.h"

namespace krpc::impl {
namespace {
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using State = CircuitBreaker::State;

RetryPolicy Policy(ChannelOptions o) {
  auto p = RetryPolicy::FromOptions(o);
  EXPECT_TRUE(p.ok()) << p.status();
  return std::move(p).value();
}

RetryPolicy::Attempt EchoAttempt(int attempts, bool not_executed) {
  RetryPolicy::Attempt a;
  a.method = examples::EchoService::descriptor()->FindMethodByName("Echo");
  a.attempts = attempts;
  a.not_executed = not_executed;
  return a;
}

TEST(RetryPolicyTest, retries_only_what_did_not_run_unless_the_method_is_idempotent) {
  ChannelOptions o;
  o.retry.max_attempts = 3;
  const auto t = Clock::time_point(100s);
  auto p = Policy(o);
  const Status unavailable(StatusCode::kUnavailable, "x");
  EXPECT_EQ(p.Decide(EchoAttempt(1, true), unavailable, t).verdict, RetryPolicy::Verdict::kRetry);
  EXPECT_EQ(p.Decide(EchoAttempt(1, false), unavailable, t).verdict, RetryPolicy::Verdict::kFinal) << "may have run";
  auto marked = EchoAttempt(1, false);
  marked.idempotent = true;
  EXPECT_EQ(p.Decide(marked, unavailable, t).verdict, RetryPolicy::Verdict::kRetry);
  o.retry.idempotent_methods = "/krpc.examples.EchoService/Echo";
  EXPECT_EQ(Policy(o).Decide(EchoAttempt(1, false), unavailable, t).verdict, RetryPolicy::Verdict::kRetry);
  EXPECT_EQ(p.Decide(EchoAttempt(3, true), unavailable, t).verdict, RetryPolicy::Verdict::kFinal) << "max_attempts";
  EXPECT_EQ(p.Decide(EchoAttempt(1, true), Status(StatusCode::kInvalidArgument, "x"), t).verdict,
            RetryPolicy::Verdict::kFinal) << "not a retry code";
}

TEST(RetryPolicyTest, deadline_exceeded_is_never_retried_and_bad_codes_name_the_key) {
  ChannelOptions o;
  o.retry.codes = "UNAVAILABLE,DEADLINE_EXCEEDED";
  EXPECT_FALSE(Policy(o).Retryable(StatusCode::kDeadlineExceeded));
  o.retry.codes = "UNAVAILABLE,NOPE";
  auto bad = RetryPolicy::FromOptions(o);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("'retry_codes'"), std::string::npos) << bad.status();
}

TEST(RetryPolicyTest, backoff_ends_before_the_deadline_and_the_budget_runs_out) {
  ChannelOptions o;
  o.retry.max_attempts = 100;
  o.retry.backoff_base_ms = 50;
  o.retry.backoff_max_ms = 50;
  o.retry.budget_ratio = 0;
  o.retry.budget_min_per_second = 1;  // 10 retries per 10 s window
  auto p = Policy(o);
  const auto t = Clock::time_point(100s);
  const Status unavailable(StatusCode::kUnavailable, "x");
  auto a = EchoAttempt(1, true);
  a.deadline = t + 10ms;  // shorter than most backoffs: only a backoff under 10 ms may retry
  int retries = 0, exhausted = 0;
  for (int i = 0; i < 20; ++i) {
    const auto d = p.Decide(a, unavailable, t);
    if (d.verdict == RetryPolicy::Verdict::kRetry) {
      EXPECT_LT(d.backoff, 10ms);
    }
    EXPECT_LE(d.backoff, 50ms);
    retries += d.verdict == RetryPolicy::Verdict::kRetry;
    exhausted += d.verdict == RetryPolicy::Verdict::kBudgetExhausted;
  }
  a.deadline = Clock::time_point::max();
  for (int i = 0; i < 30; ++i) {
    const auto v = p.Decide(a, unavailable, t).verdict;
    retries += v == RetryPolicy::Verdict::kRetry;
    exhausted += v == RetryPolicy::Verdict::kBudgetExhausted;
  }
  EXPECT_LE(retries, 10) << "min_per_second * window";
  EXPECT_GE(exhausted, 20);
  EXPECT_EQ(p.budget_exhausted(), static_cast<uint64_t>(exhausted));
}

TEST(CircuitBreakerTest, opens_after_consecutive_failures_and_success_resets_the_count) {
  CircuitBreaker b;
  const auto t = Clock::time_point(100s);
  for (int i = 0; i < 4; ++i) EXPECT_FALSE(b.OnResult(true, t));
  EXPECT_FALSE(b.OnResult(false, t)) << "a success resets the streak";
  for (int i = 0; i < 4; ++i) EXPECT_FALSE(b.OnResult(true, t));
  EXPECT_TRUE(b.OnResult(true, t)) << "the 5th failure in a row trips";
  b.Open(t);
  EXPECT_EQ(b.state(), State::kOpen);
}

TEST(CircuitBreakerTest, opens_on_error_rate_over_the_window_with_minimum_volume) {
  BreakerOptions o;
  o.consecutive_failures = 1000;
  o.error_rate = 0.5;
  o.min_requests = 20;
  CircuitBreaker b(o);
  auto t = Clock::time_point(100s);
  bool tripped = false;
  for (int i = 0; i < 10; ++i) tripped |= b.OnResult(i % 2 == 0, t);  // 50 %, 10 calls: below volume
  EXPECT_FALSE(tripped);
  for (int i = 0; i < 12; ++i) tripped |= b.OnResult(i % 3 != 0, t + 1s);
  EXPECT_TRUE(tripped) << "over 50 % of 22 calls failed";
  CircuitBreaker old(o);
  for (int i = 0; i < 30; ++i) old.OnResult(i % 2 == 0, t);
  EXPECT_FALSE(old.OnResult(false, t + 20s)) << "failures outside the window do not count";
}

TEST(CircuitBreakerTest, isolation_doubles_with_jitter_and_half_open_needs_every_probe) {
  BreakerOptions o;
  o.base_isolation_ms = 100;
  o.max_isolation_ms = 1000;
  o.half_open_probes = 3;  // the isolation jitter is 20 %
  CircuitBreaker b(o);
  auto t = Clock::time_point(100s);
  auto until = b.Open(t);
  EXPECT_GE(until - t, 80ms);
  EXPECT_LE(until - t, 120ms);
  b.EnterHalfOpen();
  EXPECT_EQ(b.OnProbeResult(true, t), State::kHalfOpen);
  EXPECT_EQ(b.OnProbeResult(false, t), State::kOpen) << "any failed probe re-opens";
  EXPECT_GE(b.open_until() - t, 160ms) << "second isolation is about twice as long";
  EXPECT_LE(b.open_until() - t, 240ms);
  for (int i = 0; i < 5; ++i) b.Open(t);
  EXPECT_LE(b.open_until() - t, 1200ms) << "capped at max_isolation (+jitter)";
  b.EnterHalfOpen();
  EXPECT_EQ(b.OnProbeResult(true, t), State::kHalfOpen);
  EXPECT_EQ(b.OnProbeResult(true, t), State::kHalfOpen);
  EXPECT_EQ(b.OnProbeResult(true, t), State::kClosed) << "all 3 probes passed";
  EXPECT_EQ(b.next_isolation(), 100ms) << "isolation resets after closing";
  EXPECT_GE(b.transitions(), 5u);
}

TEST(RetryBudgetTest, allows_twenty_percent_plus_ten_per_second) {
  RetryBudget budget(0.2, 10, 10s);
  const auto t = Clock::time_point(1000s);
  for (int i = 0; i < 1000; ++i) budget.OnRequest(t);
  int allowed = 0;
  for (int i = 0; i < 1000; ++i) allowed += budget.TryRetry(t);
  EXPECT_EQ(allowed, 300) << "0.2 * 1000 + 10/s * 10 s";
  EXPECT_EQ(budget.exhausted(), 700u);
  EXPECT_TRUE(budget.TryRetry(t + 11s)) << "the window slides";
}

TEST(LatencyEwmaTest, a_confirmed_peak_is_taken_at_once_and_decays_with_time) {
  LatencyEwma e(1000ms);
  const auto t = Clock::time_point(10s);
  e.Observe(100, t);
  EXPECT_DOUBLE_EQ(e.value_us(), 100);
  e.Observe(5000, t + 1ms);
  EXPECT_NEAR(e.value_us(), 100, 10) << "one slow sample moves it only by its EWMA weight";
  e.Observe(4000, t + 2ms);
  EXPECT_DOUBLE_EQ(e.value_us(), 4000) << "a second slow sample confirms the peak: the lower of the two";
  e.Observe(100, t + 2ms + 1000ms);
  EXPECT_NEAR(e.value_us(), 100 + 3900 * std::exp(-1.0), 1.0) << "decays with tau";
}

TEST(LatencyEwmaTest, an_isolated_stall_among_fast_samples_barely_moves_it) {
  LatencyEwma e(2000ms);
  auto t = Clock::time_point(10s);
  for (int i = 0; i < 1000; ++i) {
    t += 1ms;
    e.Observe(i % 100 == 50 ? 20000 : 150, t);  // one 20 ms stall in every hundred calls
  }
  EXPECT_LT(e.value_us(), 400) << "isolated stalls are noise, not the endpoint's latency";
}

class PickerTest : public ::testing::Test {
 protected:
  // Pickers see only each endpoint's load: no subchannel, no I/O.
  EndpointList Make(int n, std::vector<int> weights = {}) {
    EndpointList list;
    for (int i = 0; i < n; ++i) {
      auto s = std::make_shared<EndpointLoad>("10.0.0." + std::to_string(i + 1) + ":7000", 2000ms, 0, 10);
      if (!weights.empty()) s->set_weight(weights[static_cast<size_t>(i)]);
      list.push_back(s);
    }
    return list;
  }
  std::map<int, int> Count(const Picker& p, int calls, const Selectable& ok = {}) {
    std::map<int, int> c;
    for (int i = 0; i < calls; ++i) c[p.Pick({}, ok)]++;
    return c;
  }
  LoadBalancerRegistry registry_ = LoadBalancerRegistry::WithBuiltins();
};

TEST_F(PickerTest, registry_has_every_builtin_policy) {
  EXPECT_EQ(registry_.Names(),
            (std::vector<std::string>{"consistent_hash", "p2c", "random", "round_robin", "weighted_round_robin"}));
  EXPECT_EQ(registry_.Find("nope"), nullptr);
}

TEST_F(PickerTest, round_robin_is_exact_and_skips_excluded) {
  auto list = Make(3);
  auto p = registry_.Find("round_robin")->Build(list);
  auto c = Count(*p, 300);
  EXPECT_EQ(c[0], 100);
  EXPECT_EQ(c[1], 100);
  EXPECT_EQ(c[2], 100);
  const EndpointLoad* ex[] = {list[0].get()};
  auto c2 = Count(*p, 100, Selectable{ex, 1, false});
  EXPECT_EQ(c2[0], 0);
  EXPECT_EQ(c2[1] + c2[2], 100);
}

TEST_F(PickerTest, weighted_round_robin_follows_weights) {
  auto list = Make(3, {500, 100, 100});
  auto c = Count(*registry_.Find("weighted_round_robin")->Build(list), 700);
  EXPECT_EQ(c[0], 500);
  EXPECT_EQ(c[1], 100);
  EXPECT_EQ(c[2], 100);
}

TEST_F(PickerTest, random_spreads_roughly_evenly) {
  auto c = Count(*registry_.Find("random")->Build(Make(4)), 8000);
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(c[i], 2000, 300);
}

TEST_F(PickerTest, p2c_prefers_the_endpoint_with_lower_latency) {
  auto list = Make(2);
  for (int i = 0; i < 5; ++i) {
    const auto now = std::chrono::steady_clock::now();
    list[0]->AttemptStarted(now);
    list[0]->AttemptEnded(Status(), 200us, now);
    list[1]->AttemptStarted(now);
    list[1]->AttemptEnded(Status(), 50ms, now);
  }
  auto c = Count(*registry_.Find("p2c")->Build(list), 1000);
  EXPECT_EQ(c[0], 1000) << "with two endpoints p2c compares both every time";
}

TEST_F(PickerTest, consistent_hash_keeps_keys_and_moves_about_one_nth) {
  auto list = Make(5);
  auto p = registry_.Find("consistent_hash")->Build(list);
  std::map<uint64_t, const EndpointLoad*> before;
  for (uint64_t k = 0; k < 10000; ++k) {
    const int a = p->Pick({k, true}, {});
    EXPECT_EQ(a, p->Pick({k, true}, {})) << "same key, same endpoint";
    before[k] = list[static_cast<size_t>(a)].get();
  }
  EndpointList fewer(list.begin(), list.end() - 1);  // remove one of 5
  auto q = registry_.Find("consistent_hash")->Build(fewer);
  int moved = 0, lost = 0;
  for (uint64_t k = 0; k < 10000; ++k) {
    const EndpointLoad* now = fewer[static_cast<size_t>(q->Pick({k, true}, {}))].get();
    if (before[k] == list.back().get()) {
      ++lost;
    } else if (now != before[k]) {
      ++moved;
    }
  }
  EXPECT_EQ(moved, 0) << "keys of the endpoints that stay do not move";
  EXPECT_NEAR(lost, 2000, 500) << "about 1/N of the keys moved";
}

}  // namespace
}  // namespace krpc::impl

namespace krpc::impl {
namespace {
// Regression: EjectionGuard::max_share was a plain double written by the channel (discovery
// updates) while endpoints' threads read it; the TSan build of this test reports any race.
TEST(EjectionGuardTest, ejection_guard_max_share_is_atomic) {
  EjectionGuard guard;
  guard.endpoints.store(10);
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (int i = 0; i < 2000; ++i) guard.max_share.store(i % 2 ? 0.5 : 0.3);
    stop = true;
  });
  int admitted = 0;
  for (int i = 0; i < 1000 || !stop.load(); ++i) {
    if (guard.TryEject()) {
      ++admitted;
      guard.Release();
    }
  }
  writer.join();
  EXPECT_GT(admitted + static_cast<int>(guard.refused.load()), 0);
  EXPECT_EQ(guard.ejected.load(), 0);
}
}  // namespace
}  // namespace krpc::impl
