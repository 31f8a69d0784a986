// ServiceTime: a running estimate of a method's median handler time (from the handler's start
// to its reply), for refusing calls whose remaining deadline is shorter (early_refusal). A
// frugal streaming median: each sample moves the estimate one step (1/16 of it) towards
// itself, so it settles within a few percent of the recent median in a few dozen samples,
// with one word of state and no lock.
//
// Thread-safe: relaxed atomics; concurrent samples may overwrite each other's step, which only
// slows the estimate down.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>

namespace krpc::node {

class ServiceTime {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr int64_t kWarmSamples = 16;  // samples before the estimate is used

  void Add(Clock::duration d) {
    const int64_t x = std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
    int64_t m = median_ns_.load(std::memory_order_relaxed);
    if (samples_.fetch_add(1, std::memory_order_relaxed) == 0) {
      m = x;
    } else {
      const int64_t step = std::max<int64_t>(m / 16, 1000);  // at least 1 us
      m = x > m ? std::min(x, m + step) : std::max(x, m - step);
    }
    median_ns_.store(m, std::memory_order_relaxed);
  }
  // The estimate; zero until kWarmSamples samples were seen.
  Clock::duration median() const {
    if (samples_.load(std::memory_order_relaxed) < kWarmSamples) return Clock::duration::zero();
    return std::chrono::nanoseconds(median_ns_.load(std::memory_order_relaxed));
  }

 private:
  std::atomic<int64_t> median_ns_{0};
  std::atomic<int64_t> samples_{0};
};

}  // namespace krpc::node
