#include "concurrency_limit.h"

#include <algorithm>
#include <cmath>

namespace krpc::node {

ConcurrencyLimit::ConcurrencyLimit(const ConcurrencyLimitOptions& options, uint64_t seed)
    : options_(options),
      limit_(options.is_adaptive ? std::clamp(options.adaptive.initial, options.adaptive.min, options.adaptive.max)
                                 : options.fixed),
      limit_value_(static_cast<double>(limit_.load())),
      rng_(static_cast<std::minstd_rand::result_type>(seed | 1)) {
  if (options_.is_adaptive) {
    // The no-load latency is measured first (a window at the lowest limit), as after each probe.
    probing_ = true;
    limit_before_probe_ = limit_value_;
    limit_.store(kProbeLimit, std::memory_order_relaxed);
  }
}

void ConcurrencyLimit::Release(Clock::duration latency, Clock::time_point now, bool measured) {
  const int64_t before = inflight_.fetch_sub(1, std::memory_order_acq_rel);
  if (!options_.is_adaptive || !measured) return;
  std::lock_guard lock(mu_);
  if (window_end_ == Clock::time_point{}) {
    window_end_ = now + std::chrono::milliseconds(options_.adaptive.window_ms);
    ScheduleProbe(now);
  }
  window_sum_ns_ += std::chrono::duration_cast<std::chrono::nanoseconds>(latency).count();
  ++window_count_;
  window_peak_inflight_ = std::max(window_peak_inflight_, before);
  if (now >= window_end_ && window_count_ >= kMinSamples) Update(now);
}

void ConcurrencyLimit::ScheduleProbe(Clock::time_point now) {
  // +- 20 %: nodes started together do not all probe (and refuse) at the same moment.
  std::uniform_real_distribution<double> spread(0.8, 1.2);
  next_probe_ = now + std::chrono::duration_cast<Clock::duration>(
                               std::chrono::milliseconds(options_.adaptive.probe_interval_ms) * spread(rng_));
}

void ConcurrencyLimit::Update(Clock::time_point now) {
  const double avg = static_cast<double>(window_sum_ns_) / static_cast<double>(window_count_);
  const int64_t peak = window_peak_inflight_;
  window_sum_ns_ = 0;
  window_count_ = 0;
  window_peak_inflight_ = 0;
  window_end_ = now + std::chrono::milliseconds(options_.adaptive.window_ms);
  const auto& a = options_.adaptive;
  const auto lo = static_cast<double>(a.min), hi = static_cast<double>(std::max(a.min, a.max));

  if (probing_) {
    // Calls admitted before the probe are still in flight: wait for a window run at min_limit.
    if (peak > kProbeLimit) return;
    // The window ran one call at a time: its latency is the no-load latency.
    probing_ = false;
    min_latency_ns_.store(static_cast<int64_t>(avg), std::memory_order_relaxed);
    limit_value_ = limit_before_probe_;
    limit_.store(static_cast<int64_t>(limit_value_), std::memory_order_relaxed);
    ScheduleProbe(now);
    return;
  }
  auto min_ns = static_cast<double>(min_latency_ns_.load(std::memory_order_relaxed));
  if (min_ns <= 0 || avg < min_ns) {
    min_ns = avg;
    min_latency_ns_.store(static_cast<int64_t>(avg), std::memory_order_relaxed);
  }
  if (now >= next_probe_) {
    probing_ = true;
    limit_before_probe_ = limit_value_;
    limit_.store(kProbeLimit, std::memory_order_relaxed);
    return;
  }
  double gradient = std::clamp(min_ns * a.tolerance / avg, 0.5, 2.0);
  const bool app_limited = static_cast<double>(peak) < limit_value_ / 2;
  if (gradient >= 1.0 && app_limited) return;  // the load never needed the limit: no evidence to grow
  const double next = limit_value_ * gradient + std::sqrt(limit_value_);
  limit_value_ = std::clamp(next, lo, hi);
  limit_.store(static_cast<int64_t>(limit_value_), std::memory_order_relaxed);
}

}  // namespace krpc::node
