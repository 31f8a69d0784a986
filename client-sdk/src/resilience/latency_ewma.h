// LatencyEwma: peak-sensitive exponentially weighted moving average of call latency (Finagle's
// peak EWMA): a sample above the average replaces it at once, lower samples decay it with time
// constant `tau`. Written from the endpoint's I/O thread, read by pickers on any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cmath>

namespace krpc::impl {

class LatencyEwma {
 public:
  using Clock = std::chrono::steady_clock;
  explicit LatencyEwma(std::chrono::milliseconds tau = std::chrono::milliseconds(10000), double initial_us = 0)
      : tau_us_(static_cast<double>(std::chrono::duration_cast<std::chrono::microseconds>(tau).count())),
        value_us_(initial_us) {}

  void Observe(double sample_us, Clock::time_point now) {
    const double prev = value_us_.load(std::memory_order_relaxed);
    double next = sample_us;
    if (sample_us < prev && last_.time_since_epoch().count() != 0) {
      const double dt = static_cast<double>(std::chrono::duration_cast<std::chrono::microseconds>(now - last_).count());
      const double w = std::exp(-std::max(0.0, dt) / tau_us_);
      next = prev * w + sample_us * (1 - w);
    }
    last_ = now;
    value_us_.store(next, std::memory_order_relaxed);
  }
  double value_us() const { return value_us_.load(std::memory_order_relaxed); }

 private:
  const double tau_us_;
  std::atomic<double> value_us_;
  Clock::time_point last_{};
};

}  // namespace krpc::impl
