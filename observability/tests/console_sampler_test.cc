// ConsoleSampler against a real prometheus-cpp registry: rates and error ratios from counter
// differences, quantiles interpolated inside histogram buckets, series that appear late, the
// ring's bound, and the JSON.
#include "console_sampler.h"

#include <gtest/gtest.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

namespace krpc {
namespace {

struct Fixture {
  prometheus::Registry registry;
  prometheus::Family<prometheus::Counter>& requests =
      prometheus::BuildCounter().Name("krpc_server_requests_total").Register(registry);
  prometheus::Family<prometheus::Histogram>& duration =
      prometheus::BuildHistogram().Name("krpc_server_request_duration_seconds").Register(registry);
  prometheus::Family<prometheus::Gauge>& connections =
      prometheus::BuildGauge().Name("krpc_server_connections").Register(registry);

  prometheus::Counter& Calls(const std::string& method, const std::string& code) {
    return requests.Add({{"service", "s.S"}, {"method", method}, {"protocol", "krpc"}, {"code", code}});
  }
  prometheus::Histogram& Latency(const std::string& method) {
    return duration.Add({{"service", "s.S"}, {"method", method}, {"protocol", "krpc"}},
                        prometheus::Histogram::BucketBoundaries{0.001, 0.01, 0.1});
  }
};

TEST(ConsoleSamplerTest, QuantileInterpolatesInsideTheBucket) {
  const std::vector<double> bounds{0.001, 0.01, std::numeric_limits<double>::infinity()};
  // 100 observations under 1 ms, 200 in (1 ms, 10 ms]
  const auto p50 = ConsoleSampler::Quantile(0.5, bounds, {0, 0, 0}, {100, 300, 300});
  ASSERT_TRUE(p50);
  EXPECT_NEAR(*p50, 0.001 + 0.009 * 50.0 / 200.0, 1e-12);
  EXPECT_NEAR(*ConsoleSampler::Quantile(0.1, bounds, {}, {100, 300, 300}), 0.001 * 30.0 / 100.0, 1e-12);
  // Only the difference counts: the same snapshot twice holds no observation.
  EXPECT_FALSE(ConsoleSampler::Quantile(0.5, bounds, {100, 300, 300}, {100, 300, 300}));
  // Beyond the last finite bound: that bound.
  EXPECT_EQ(*ConsoleSampler::Quantile(0.99, bounds, {0, 0, 0}, {0, 0, 5}), 0.01);
}

TEST(ConsoleSamplerTest, RatesErrorRatiosAndLatencyFromDifferences) {
  Fixture f;
  ConsoleSampler sampler(10);
  f.Calls("A", "OK").Increment(1000);  // before the baseline: never charted
  sampler.Sample(f.registry.Collect(), 100.0);
  EXPECT_EQ(sampler.size(), 0u);  // the first collection is the baseline
  f.Calls("A", "OK").Increment(180);
  f.Calls("A", "UNAVAILABLE").Increment(20);
  for (int i = 0; i < 200; ++i) f.Latency("A").Observe(i < 100 ? 0.0005 : 0.005);
  f.connections.Add({}).Set(3);
  sampler.Sample(f.registry.Collect(), 102.0);  // 2 s later
  ASSERT_EQ(sampler.size(), 1u);
  const std::string json = sampler.Json(1000);
  EXPECT_NE(json.find(R"("side":"server","name":"s.S/A","rate":[100],"error_rate":[0.1],"p50_ms":[1],)"),
            std::string::npos)
      << json;
  EXPECT_NE(json.find(R"("server_connections":[3])"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("t":[102.000])"), std::string::npos) << json;
}

TEST(ConsoleSamplerTest, LateSeriesArePaddedAndTheRingIsBounded) {
  Fixture f;
  ConsoleSampler sampler(3);
  sampler.Sample(f.registry.Collect(), 1.0);
  for (int s = 2; s <= 6; ++s) {
    if (s >= 5) f.Calls("B", "OK").Increment(10);  // B appears at the 4th sample
    f.Calls("A", "OK").Increment(1);
    sampler.Sample(f.registry.Collect(), s);
  }
  EXPECT_EQ(sampler.size(), 3u);  // samples at 4, 5, 6
  const std::string json = sampler.Json(1000);
  EXPECT_NE(json.find(R"("t":[4.000,5.000,6.000])"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("name":"s.S/A","rate":[1,1,1])"), std::string::npos) << json;
  // B was first collected at 5 (its counter starts there: 10 calls in that second), so 4 is a gap.
  EXPECT_NE(json.find(R"("name":"s.S/B","rate":[null,10,10])"), std::string::npos) << json;
  // No calls, no latency: null, not 0.
  EXPECT_NE(json.find(R"("p50_ms":[null,null,null])"), std::string::npos) << json;
}

}  // namespace
}  // namespace krpc
