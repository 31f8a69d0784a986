// ConcurrencyLimit: how many calls a node (or one method) admits at once, fixed or adaptive
// (max_inflight=auto). The adaptive limit follows measured latency, in the manner of Envoy's
// adaptive concurrency filter and Netflix's Gradient limiter:
//
//   every window (window_ms and at least kMinSamples calls), with `avg` the window's average
//   latency (arrival to reply, queueing included) and `min` the no-load latency:
//     gradient = clamp(min * tolerance / avg, 0.5, 2)
//     limit    = limit * gradient + sqrt(limit)        (the square root is queueing headroom)
//   a limit the load never reached (fewer than half in flight) does not grow;
//   at the start and every probe_interval_ms (+- 20 %) after, the limit drops to one call for
//   a window and that window's average becomes the new `min` (the no-load latency is
//   re-measured, as brpc does, so a slower deployment does not read as overload forever).
//
// At equilibrium the latency stays within `tolerance` of the no-load latency plus the
// headroom's queue, and calls beyond the limit are refused at once (RESOURCE_EXHAUSTED, not
// executed) instead of waiting until their deadline passes. No clock is read here: callers
// pass `now` (tests drive it).
//
// Thread-safe: admission is one atomic; samples take a mutex (only adaptive limits take them).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <random>

#include "krpc/server.h"

namespace krpc::node {

// Fixed (`fixed` calls), or adaptive with `adaptive`'s settings.
struct ConcurrencyLimitOptions {
  bool is_adaptive = false;
  int fixed = 100000;
  AdaptiveLimitOptions adaptive;
};

class ConcurrencyLimit {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr int64_t kMinSamples = 10;
  static constexpr int kProbeLimit = 1;  // calls admitted while the no-load latency is measured

  explicit ConcurrencyLimit(const ConcurrencyLimitOptions& options, uint64_t seed = 1);

  // Takes a slot: false (and nothing taken) when `limit()` calls are in flight.
  bool TryAcquire() {
    const int64_t before = inflight_.fetch_add(1, std::memory_order_acq_rel);
    if (before < limit_.load(std::memory_order_relaxed)) return true;
    inflight_.fetch_sub(1, std::memory_order_acq_rel);
    refused_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  // Gives the slot back. `latency` (arrival to reply) is a sample when `measured` (the handler
  // ran); a cancelled call's is not.
  void Release(Clock::duration latency, Clock::time_point now, bool measured);

  bool adaptive() const { return options_.is_adaptive; }
  int64_t limit() const { return limit_.load(std::memory_order_relaxed); }
  int64_t inflight() const { return inflight_.load(std::memory_order_relaxed); }
  uint64_t refused() const { return refused_.load(std::memory_order_relaxed); }
  // The measured no-load latency (zero until measured, and for fixed limits).
  Clock::duration min_latency() const { return Clock::duration(min_latency_ns_.load(std::memory_order_relaxed)); }

 private:
  void Update(Clock::time_point now);  // under mu_
  void ScheduleProbe(Clock::time_point now);

  const ConcurrencyLimitOptions options_;
  std::atomic<int64_t> inflight_{0};
  std::atomic<int64_t> limit_;
  std::atomic<uint64_t> refused_{0};
  std::atomic<int64_t> min_latency_ns_{0};

  std::mutex mu_;  // the window and the limit's state
  Clock::time_point window_end_{};
  int64_t window_sum_ns_ = 0;
  int64_t window_count_ = 0;
  int64_t window_peak_inflight_ = 0;
  double limit_value_;
  bool probing_ = false;
  double limit_before_probe_ = 0;
  Clock::time_point next_probe_{};
  std::minstd_rand rng_;
};

}  // namespace krpc::node
