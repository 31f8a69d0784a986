// MethodSeries and MethodSeriesFamily: per-thread shards merged exactly at scrape time (many
// threads recording at once lose nothing), Prometheus bucket semantics (le: a value equal to a
// bound counts in that bucket), the exposition text, and a collector that stops with its handle.
#include "krpc/method_series.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "krpc/sharded_counter.h"

namespace krpc {
namespace {

using std::chrono::microseconds;
using std::chrono::nanoseconds;

TEST(MethodSeriesTest, ThreadsRecordingAtOnceLoseNothing) {
  MethodSeries series({{"service", "s.S"}, {"method", "M"}});
  ShardedCounter bytes;
  constexpr int kThreads = 12;  // more threads than shards: shared shards stay exact
  constexpr int kCalls = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kCalls; ++i) {
        series.Record(t % 2 ? StatusCode::kOk : StatusCode::kUnavailable, microseconds(50));
        bytes.Add(3);
      }
    });
  }
  for (auto& th : threads) th.join();
  const auto t = series.Read();
  EXPECT_EQ(t.by_code[static_cast<size_t>(StatusCode::kOk)], uint64_t{kThreads / 2 * kCalls});
  EXPECT_EQ(t.by_code[static_cast<size_t>(StatusCode::kUnavailable)], uint64_t{kThreads / 2 * kCalls});
  EXPECT_EQ(t.buckets[0], uint64_t{kThreads * kCalls});  // 50 us <= 100 us
  EXPECT_EQ(t.sum_ns, uint64_t{kThreads} * kCalls * 50000);
  EXPECT_EQ(bytes.Read(), uint64_t{3} * kThreads * kCalls);
}

TEST(MethodSeriesTest, BucketsFollowPrometheusLeSemantics) {
  MethodSeries series({});
  series.Record(StatusCode::kOk, microseconds(100));       // exactly the first bound: le 0.0001
  series.Record(StatusCode::kOk, microseconds(101));       // next bucket: le 0.00025
  series.Record(StatusCode::kOk, std::chrono::seconds(11));  // beyond 10 s: +Inf
  series.Record(StatusCode::kOk, nanoseconds(-5));         // a clock step back counts as 0
  series.Record(static_cast<StatusCode>(99), microseconds(1));  // an unknown code counts as UNKNOWN
  const auto t = series.Read();
  EXPECT_EQ(t.buckets[0], 3u);
  EXPECT_EQ(t.buckets[1], 1u);
  EXPECT_EQ(t.buckets[MethodSeries::kBuckets - 1], 1u);
  EXPECT_EQ(t.by_code[static_cast<size_t>(StatusCode::kUnknown)], 1u);
}

TEST(MethodSeriesFamilyTest, SerializesCountersByCodeAndACumulativeHistogram) {
  Metrics metrics;
  auto family = std::make_unique<MethodSeriesFamily>(
      metrics, MethodSeriesFamily::Names{"t_requests_total", "calls", "t_duration_seconds", "latency"});
  auto& a = family->Add({{"service", "s.S"}, {"method", "A"}});
  family->Add({{"service", "s.S"}, {"method", "B"}});  // never called: a histogram of zeros, no counter
  a.Record(StatusCode::kOk, microseconds(80));
  a.Record(StatusCode::kOk, std::chrono::milliseconds(3));
  a.Record(StatusCode::kNotFound, std::chrono::milliseconds(3));
  const auto text = metrics.Serialize();
  EXPECT_NE(text.find(R"(t_requests_total{code="OK",method="A",service="s.S"} 2)"), std::string::npos) << text;
  EXPECT_NE(text.find(R"(t_requests_total{code="NOT_FOUND",method="A",service="s.S"} 1)"), std::string::npos) << text;
  EXPECT_EQ(text.find(R"(t_requests_total{code="OK",method="B")"), std::string::npos) << text;
  EXPECT_NE(text.find(R"(t_duration_seconds_bucket{method="A",service="s.S",le="0.0001"} 1)"), std::string::npos) << text;
  EXPECT_NE(text.find(R"(t_duration_seconds_bucket{method="A",service="s.S",le="0.0025"} 1)"), std::string::npos) << text;
  EXPECT_NE(text.find(R"(t_duration_seconds_bucket{method="A",service="s.S",le="0.005"} 3)"), std::string::npos) << text;
  EXPECT_NE(text.find(R"(t_duration_seconds_bucket{method="A",service="s.S",le="+Inf"} 3)"), std::string::npos) << text;
  EXPECT_NE(text.find(R"(t_duration_seconds_count{method="A",service="s.S"} 3)"), std::string::npos) << text;
  EXPECT_NE(text.find(R"(t_duration_seconds_sum{method="A",service="s.S"} 0.0060)"), std::string::npos) << text;
  EXPECT_NE(text.find(R"(t_duration_seconds_count{method="B",service="s.S"} 0)"), std::string::npos) << text;
  family.reset();  // the collector goes with its family
  EXPECT_EQ(metrics.Serialize().find("t_requests_total"), std::string::npos);
}

TEST(MetricsTest, ReleasingAHandleWaitsForACollectionUnderWay) {
  Metrics metrics;
  std::atomic<bool> inside{false}, release{false};
  auto handle = metrics.AddCollector([&] {
    inside = true;
    while (!release) std::this_thread::yield();
    return std::vector<prometheus::MetricFamily>{};
  });
  std::thread scraper([&] { metrics.Collect(); });
  while (!inside) std::this_thread::yield();
  std::atomic<bool> released{false};
  std::thread owner([&] {
    handle.reset();
    released = true;
  });
  // The owner cannot finish letting go while the collector runs; it does as soon as it returns.
  for (int i = 0; i < 1000; ++i) std::this_thread::yield();
  EXPECT_FALSE(released);
  release = true;
  owner.join();
  scraper.join();
  EXPECT_TRUE(released);
}

}  // namespace
}  // namespace krpc
