// LatencyEwma: peak-sensitive exponentially weighted moving average of call latency (Finagle's
// peak EWMA) with time constant `tau`. A peak is taken as soon as a second sample confirms it:
// when two consecutive samples are both above the average, it jumps to the lower of the two. A
// single slow sample only moves it by its EWMA weight: one expensive request or hiccup is
// noise, and taking it as the endpoint's latency would steer traffic away from a healthy
// endpoint for seconds. Reading decays the value towards zero with the time since the last
// sample, so an endpoint no call has reached for a while looks cheap again and gets probed
// (Linkerd's peak EWMA). Written from the endpoint's I/O thread, read by pickers on any thread.
#pragma once

#include <algorithm>
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

  // Single writer (the endpoint's I/O thread); readers on any thread.
  void Observe(double sample_us, Clock::time_point now) {
    const double prev = value_us_.load(std::memory_order_relaxed);
    const int64_t last = last_ns_.load(std::memory_order_relaxed);
    double next = sample_us;
    if (last != 0) {
      const double w = Weight(now, last);
      next = std::max(prev * w + sample_us * (1 - w), std::min(sample_us, last_sample_us_));
    }
    last_sample_us_ = sample_us;
    last_ns_.store(now.time_since_epoch().count(), std::memory_order_relaxed);
    value_us_.store(next, std::memory_order_relaxed);
  }
  // The last computed value (no decay applied).
  double value_us() const { return value_us_.load(std::memory_order_relaxed); }
  // The value decayed to `now`.
  double value_us(Clock::time_point now) const {
    const int64_t last = last_ns_.load(std::memory_order_relaxed);
    const double v = value_us_.load(std::memory_order_relaxed);
    return last == 0 ? v : v * Weight(now, last);
  }

 private:
  double Weight(Clock::time_point now, int64_t last_ns) const {
    const double dt_us = static_cast<double>(now.time_since_epoch().count() - last_ns) / 1000.0;
    return std::exp(-std::max(0.0, dt_us) / tau_us_);
  }

  const double tau_us_;
  std::atomic<double> value_us_;
  std::atomic<int64_t> last_ns_{0};
  double last_sample_us_ = 0;  // the writer's own
};

}  // namespace krpc::impl
