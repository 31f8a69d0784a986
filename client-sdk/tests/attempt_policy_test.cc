// Unit tests, with a driven clock, of the decisions behind a call's attempts: per-try
// timeouts, the hedging delay and budget, latency windows, latency outliers, stalls and
// slow start.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include "examples/echo.pb.h"
#include "examples/user.pb.h"
#include "lb/load_balancer.h"
#include "resilience/hedging_policy.h"
#include "resilience/latency_outliers.h"
#include "resilience/latency_window.h"
#include "resilience/retry_policy.h"
#include "subchannel.h"

namespace krpc::impl {
namespace {
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

const google::protobuf::MethodDescriptor* Echo() { return examples::EchoService::descriptor()->FindMethodByName("Echo"); }
const google::protobuf::MethodDescriptor* Login() { return examples::UserService::descriptor()->FindMethodByName("Login"); }

TEST(LatencyWindowTest, buckets_bound_values_within_a_quarter) {
  for (uint64_t us : {0ull, 1ull, 3ull, 4ull, 5ull, 7ull, 100ull, 999ull, 1000ull, 123456ull, 50'000'000ull}) {
    const uint64_t up = LatencyWindow::UpperBound(LatencyWindow::BucketOf(us));
    EXPECT_GE(up, us) << us;
    EXPECT_LE(static_cast<double>(up), static_cast<double>(us) * 1.25 + 1) << us;
  }
}

TEST(LatencyWindowTest, percentiles_cover_the_last_one_to_two_windows) {
  LatencyWindow w(0.99, 1000ms);
  const auto t0 = Clock::time_point(100s);
  for (int i = 0; i < 990; ++i) w.Record(1000, t0);
  for (int i = 0; i < 10; ++i) w.Record(100000, t0);
  uint64_t n = 0;
  EXPECT_LE(w.Percentile(0.5, t0, &n), 1250u);
  EXPECT_EQ(n, 1000u);
  EXPECT_LE(w.Percentile(0.99, t0), 1250u);
  EXPECT_GE(w.Percentile(0.995, t0), 100000u);
  EXPECT_EQ(w.Percentile(0.5, t0 + 1500ms, &n), w.Percentile(0.5, t0)) << "the previous window still counts";
  EXPECT_EQ(w.Percentile(0.5, t0 + 2500ms, &n), 0u) << "two windows later it is gone";
  EXPECT_EQ(n, 0u);
  w.Record(5000, t0 + 2500ms);
  EXPECT_GE(w.Percentile(0.5, t0 + 2500ms), 5000u);
}

TEST(HedgingPolicyTest, adaptive_delay_follows_the_methods_percentile_after_enough_samples) {
  HedgingOptions o;
  o.percentile = 90;
  o.min_samples = 100;
  o.min_delay_ms = 2;
  HedgingPolicy p(o);
  auto t = Clock::time_point(1000s);
  for (int i = 0; i < 99; ++i) p.Record(Echo(), 10ms, t);
  EXPECT_FALSE(p.Delay(Echo(), t).has_value()) << "99 samples: no adaptive delay yet";
  t += 200ms;  // past the 100 ms cache
  p.Record(Echo(), 10ms, t);
  auto d = p.Delay(Echo(), t);
  ASSERT_TRUE(d.has_value());
  EXPECT_GE(*d, 10ms);
  EXPECT_LE(*d, 12500us);
  EXPECT_FALSE(p.Delay(Login(), t).has_value()) << "per method";
  for (int i = 0; i < 1000; ++i) p.Record(Login(), 100us, t);
  t += 200ms;
  EXPECT_EQ(*p.Delay(Login(), t), Clock::duration(2ms)) << "never below hedge_min_delay_ms";
  o.delay_ms = 7;
  EXPECT_EQ(*HedgingPolicy(o).Delay(Login(), t), Clock::duration(7ms)) << "fixed delay";
  o.enabled = false;
  EXPECT_FALSE(HedgingPolicy(o).Delay(Echo(), t).has_value());
}

TEST(HedgingPolicyTest, hedges_stay_within_their_share_of_requests) {
  HedgingOptions o;
  o.budget_percent = 10;
  HedgingPolicy p(o);
  const auto t = Clock::time_point(500s);
  for (int i = 0; i < 1000; ++i) p.OnRequest(t);
  int granted = 0;
  for (int i = 0; i < 1000; ++i) granted += p.TryHedge(t);
  EXPECT_EQ(granted, 100);
  EXPECT_EQ(p.budget_exhausted(), 900u);
}

TEST(PerTryTimeoutTest, per_try_deadline_exceeded_is_retried_only_for_idempotent_calls) {
  ChannelOptions o;
  o.retry.method_per_try_timeout_ms = "/krpc.examples.EchoService/Echo=150";
  o.retry.per_try_timeout_ms = 400;
  auto p = RetryPolicy::FromOptions(o);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->PerTryTimeout(Echo()), 150ms);
  EXPECT_EQ(p->PerTryTimeout(Login()), 400ms);
  const Status deadline(StatusCode::kDeadlineExceeded, "x");
  RetryPolicy::Attempt a;
  a.method = Echo();
  a.attempts = 1;
  a.per_try_timeout = true;
  const auto t = Clock::time_point(100s);
  EXPECT_EQ(p->Decide(a, deadline, t).verdict, RetryPolicy::Verdict::kFinal) << "may have run, not idempotent";
  a.idempotent = true;
  EXPECT_EQ(p->Decide(a, deadline, t).verdict, RetryPolicy::Verdict::kRetry);
  a.per_try_timeout = false;
  EXPECT_EQ(p->Decide(a, deadline, t).verdict, RetryPolicy::Verdict::kFinal) << "the call's own deadline";
}

TEST(PerTryTimeoutTest, a_bad_per_method_value_names_the_key) {
  for (const char* bad : {"Echo=100", "/krpc.examples.EchoService/Echo", "/a/b=x", "/a/b=-1"}) {
    ChannelOptions o;
    o.retry.method_per_try_timeout_ms = bad;
    auto p = RetryPolicy::FromOptions(o);
    ASSERT_FALSE(p.ok()) << bad;
    EXPECT_NE(p.status().message().find("method_per_try_timeout_ms"), std::string::npos) << p.status();
  }
}

TEST(LatencyOutliersTest, ejects_an_endpoint_far_slower_than_the_median_of_its_peers) {
  OutlierOptions o;  // factor 5, at least 50 ms, 5 samples
  double median = 0;
  std::vector<EndpointSample> e = {{100, 100 * 2000, true}, {100, 100 * 3000, true}, {20, 20 * 300000, true}};
  EXPECT_EQ(LatencyOutliers(e, o, &median), std::vector<size_t>{2});
  EXPECT_EQ(median, 3000);
  e[2].latency_us = 20 * 40000;  // 40 ms: 13x the median but under latency_min_ms
  EXPECT_TRUE(LatencyOutliers(e, o, &median).empty());
  e[2] = {4, 4 * 900000, true};  // too few samples to judge
  EXPECT_TRUE(LatencyOutliers(e, o, &median).empty());
  e[2] = {20, 20 * 300000, false};  // already out of rotation
  EXPECT_TRUE(LatencyOutliers(e, o, &median).empty());
  std::vector<EndpointSample> alone = {{100, 100 * 300000, true}};
  EXPECT_TRUE(LatencyOutliers(alone, o, &median).empty()) << "no peers to compare with";
}

class EndpointTest : public ::testing::Test {
 protected:
  std::shared_ptr<Subchannel> Make(Subchannel::Options o = {}, bool slow_start = false) {
    return Subchannel::Create(io_.get_executor(), Endpoint{"10.0.0.1", 7000}, o, nullptr, nullptr, nullptr, slow_start);
  }
  boost::asio::io_context io_;
};

TEST_F(EndpointTest, stalled_means_calls_in_flight_and_no_answer_for_the_threshold) {
  Subchannel::Options o;
  o.breaker.enabled = false;  // a failure would send a probe, on a loop this test does not run
  auto s = Make(o);
  const auto t0 = Clock::now();
  auto& l = s->load();
  EXPECT_FALSE(l.stalled(t0 + 10s, 100ms)) << "nothing in flight";
  l.AttemptStarted(t0);
  EXPECT_FALSE(l.stalled(t0 + 50ms, 100ms));
  EXPECT_TRUE(l.stalled(t0 + 150ms, 100ms)) << "in flight 150 ms, nothing answered";
  l.AttemptStarted(t0 + 140ms);
  l.AttemptEnded(Status(), 140ms, t0 + 140ms);  // an answer is progress
  EXPECT_FALSE(l.stalled(t0 + 150ms, 100ms));
  EXPECT_TRUE(l.stalled(t0 + 250ms, 100ms));
  l.AttemptStarted(t0 + 250ms);
  l.AttemptEnded(Status(StatusCode::kDeadlineExceeded, "timeout"), 250ms, t0 + 250ms);
  EXPECT_TRUE(l.stalled(t0 + 260ms, 100ms)) << "a timeout is no answer";
  l.AttemptEnded(Status(), 10ms, t0 + 260ms);
  EXPECT_FALSE(l.stalled(t0 + 10s, 100ms)) << "nothing in flight any more";
}

TEST_F(EndpointTest, picks_skip_a_stalled_endpoint) {
  LoadBalancerRegistry registry = LoadBalancerRegistry::WithBuiltins();
  std::vector<std::shared_ptr<Subchannel>> subs = {Make(), Make(), Make()};
  EndpointList list = {subs[0]->load_ref(), subs[1]->load_ref(), subs[2]->load_ref()};
  const auto t0 = Clock::now();
  list[1]->AttemptStarted(t0);
  auto picker = registry.Find("round_robin")->Build(list);
  Selectable ok;
  ok.now = t0 + 500ms;
  ok.stall_after = 100ms;
  std::map<int, int> c;
  for (int i = 0; i < 300; ++i) c[picker->Pick({}, ok)]++;
  EXPECT_EQ(c[1], 0);
  EXPECT_EQ(c[0] + c[2], 300);
  EXPECT_EQ(list[1]->stalls(), 1u) << "reported once per stall";
}

TEST_F(EndpointTest, slow_start_ramps_the_share_from_the_minimum_to_full) {
  Subchannel::Options o;
  o.outlier.slow_start_ms = 10000;
  o.outlier.slow_start_min_percent = 10;
  auto s = Make(o, /*slow_start=*/true);
  const auto t0 = Clock::now();
  s->load().StartSlowStart(t0);
  EXPECT_DOUBLE_EQ(s->load().SlowStartShare(t0), 0.1);
  EXPECT_NEAR(s->load().SlowStartShare(t0 + 5s), 0.5, 1e-9);
  EXPECT_DOUBLE_EQ(s->load().SlowStartShare(t0 + 10s), 1.0);
  auto other = Make(o);
  EXPECT_DOUBLE_EQ(other->load().SlowStartShare(t0), 1.0) << "not ramping unless started";

  LoadBalancerRegistry registry = LoadBalancerRegistry::WithBuiltins();
  EndpointList list = {other->load_ref(), s->load_ref()};
  auto picker = registry.Find("random")->Build(list);
  Selectable ok;
  ok.now = t0 + 2500ms;  // share 25 %: random starts at it half the time and keeps it a quarter of those
  std::map<int, int> c;
  for (int i = 0; i < 10000; ++i) c[picker->Pick({}, ok)]++;
  EXPECT_NEAR(c[1], 1250, 300);
  ok.now = t0 + 20s;
  c.clear();
  for (int i = 0; i < 10000; ++i) c[picker->Pick({}, ok)]++;
  EXPECT_NEAR(c[1], 5000, 400) << "ramp over: a full share";
}

}  // namespace
}  // namespace krpc::impl
