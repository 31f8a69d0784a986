// LatencyWindow: the recent latency distribution of a method or a route, for percentiles
// (the adaptive hedging delay, the stall threshold). Log-linear buckets (four per power of
// two, 1 us to about an hour: at most 25 % above the true value), kept in two windows of
// `window` each (the current and the previous), so a percentile covers the last one to two
// windows. Lock-free: relaxed atomic counters; a window is cleared by the first sample of its
// new period (samples racing with that reset may be lost, which a percentile tolerates).
// Quantile() caches its answer for 100 ms, so callers may ask on every call. Time is passed
// in, so tests drive it.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>

namespace krpc::impl {

class LatencyWindow {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr int kBuckets = 140;

  // `q` (0..1) is the quantile Quantile() answers.
  explicit LatencyWindow(double q = 0.99, std::chrono::milliseconds window = std::chrono::milliseconds(5000))
      : q_(q), window_ms_(window.count() > 0 ? window.count() : 1) {}

  void Record(uint64_t us, Clock::time_point now);
  // The q-quantile in microseconds over the last one to two windows (an upper bucket bound),
  // and how many samples it covers. 0 with no samples.
  uint64_t Percentile(double q, Clock::time_point now, uint64_t* samples = nullptr) const;
  // Percentile(q) cached for 100 ms; `samples` as above (of the cached computation).
  uint64_t Quantile(Clock::time_point now, uint64_t* samples = nullptr) const;

  static int BucketOf(uint64_t us);
  static uint64_t UpperBound(int bucket);

 private:
  struct Window {
    std::atomic<int64_t> epoch{-1};
    std::array<std::atomic<uint64_t>, kBuckets> counts{};
  };
  int64_t Epoch(Clock::time_point now) const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() / window_ms_;
  }

  const double q_;
  const int64_t window_ms_;
  Window windows_[2];
  mutable std::atomic<int64_t> cached_until_ns_{0};
  mutable std::atomic<uint64_t> cached_value_{0};
  mutable std::atomic<uint64_t> cached_samples_{0};
};

}  // namespace krpc::impl
