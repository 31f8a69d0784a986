#include "latency_histogram.h"

#include <bit>

namespace krpc::tools {

int LatencyHistogram::BucketOf(uint64_t v) {
  constexpr uint64_t kSub = 1u << kSubBits;
  if (v < kSub) return static_cast<int>(v);
  const int msb = 63 - std::countl_zero(v);      // >= kSubBits
  const int shift = msb - kSubBits;
  const uint64_t mantissa = (v >> shift) & (kSub - 1);
  return static_cast<int>((shift + 1) * kSub + mantissa);
}

uint64_t LatencyHistogram::BucketUpper(int bucket) {
  constexpr uint64_t kSub = 1u << kSubBits;
  if (bucket < static_cast<int>(kSub)) return static_cast<uint64_t>(bucket);
  const int shift = bucket / static_cast<int>(kSub) - 1;
  const uint64_t mantissa = static_cast<uint64_t>(bucket) % kSub;
  return (((kSub + mantissa) << shift) + ((uint64_t{1} << shift) - 1));
}

void LatencyHistogram::Record(uint64_t micros) {
  buckets_[BucketOf(micros)].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
}

void LatencyHistogram::Reset() {
  for (auto& b : buckets_) b.store(0, std::memory_order_relaxed);
  count_.store(0, std::memory_order_relaxed);
}

double LatencyHistogram::Percentile(double q) const {
  const uint64_t total = count();
  if (total == 0) return 0;
  const auto rank = static_cast<uint64_t>(q * static_cast<double>(total - 1)) + 1;
  uint64_t seen = 0;
  for (int i = 0; i < kBuckets; ++i) {
    seen += buckets_[i].load(std::memory_order_relaxed);
    if (seen >= rank) {
      // Report the bucket's midpoint.
      const uint64_t upper = BucketUpper(i);
      const uint64_t lower = i == 0 ? 0 : BucketUpper(i - 1) + 1;
      return (static_cast<double>(lower) + static_cast<double>(upper)) / 2.0;
    }
  }
  return static_cast<double>(BucketUpper(kBuckets - 1));
}

void LatencyHistogram::Add(const LatencyHistogram& other) {
  for (int i = 0; i < kBuckets; ++i) {
    buckets_[i].fetch_add(other.buckets_[i].load(std::memory_order_relaxed), std::memory_order_relaxed);
  }
  count_.fetch_add(other.count(), std::memory_order_relaxed);
}

}  // namespace krpc::tools
