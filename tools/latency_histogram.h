// LatencyHistogram: lock-free log-linear histogram of microsecond latencies (about 1.5 %
// relative precision, 1 us to ~1 h), for benchmarks and load generators.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

namespace krpc::tools {

class LatencyHistogram {
 public:
  static constexpr int kSubBits = 6;                      // 64 sub-buckets per power of two
  static constexpr int kBuckets = (64 - kSubBits + 1) * (1 << kSubBits);

  void Record(uint64_t micros);
  void Reset();
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  // Value at quantile q (0..1), in microseconds; 0 when empty.
  double Percentile(double q) const;
  // Merges another histogram into this one.
  void Add(const LatencyHistogram& other);

  uint64_t BucketCount(int bucket) const { return buckets_[bucket].load(std::memory_order_relaxed); }
  static int BucketOf(uint64_t v);
  static uint64_t BucketUpper(int bucket);

 private:
  std::array<std::atomic<uint64_t>, kBuckets> buckets_{};
  std::atomic<uint64_t> count_{0};
};

}  // namespace krpc::tools
