#include "latency_histogram.h"

#include <gtest/gtest.h>

namespace krpc::tools {
namespace {

TEST(LatencyHistogramTest, buckets_are_monotonic_and_tight) {
  int last = -1;
  for (uint64_t v = 0; v < 2000000; v += (v < 1000 ? 1 : 997)) {
    const int b = LatencyHistogram::BucketOf(v);
    EXPECT_GE(b, last);
    last = b;
    EXPECT_GE(LatencyHistogram::BucketUpper(b), v);
    if (v > 64) {
      EXPECT_LE(LatencyHistogram::BucketUpper(b), v + v / 50) << v;
    }
  }
}

TEST(LatencyHistogramTest, percentiles_of_a_known_distribution) {
  LatencyHistogram h;
  for (uint64_t v = 1; v <= 10000; ++v) h.Record(v);
  EXPECT_EQ(h.count(), 10000u);
  EXPECT_NEAR(h.Percentile(0.5), 5000, 5000 * 0.02);
  EXPECT_NEAR(h.Percentile(0.99), 9900, 9900 * 0.02);
  EXPECT_NEAR(h.Percentile(0.0), 1, 1);
  LatencyHistogram other;
  other.Record(1000000);
  h.Add(other);
  EXPECT_EQ(h.count(), 10001u);
  EXPECT_NEAR(h.Percentile(1.0), 1000000, 1000000 * 0.02);
}

}  // namespace
}  // namespace krpc::tools
