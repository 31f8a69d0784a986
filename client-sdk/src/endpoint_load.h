// EndpointLoad: what a picker reads of one endpoint, lock-free from any thread: its address and
// weight, whether it is usable now (in rotation, not waiting out a reconnect backoff), its
// attempts in flight and latency average, whether it has stalled (attempts in flight, none
// answered), and its slow-start share. The endpoint's Subchannel writes it: attempts start on
// any thread, end on the subchannel's. This is all that load balancing (lb/) sees of an
// endpoint.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "krpc/status.h"
#include "resilience/circuit_breaker.h"
#include "resilience/latency_ewma.h"
#include "resilience/outlier_detector.h"

namespace krpc::impl {

class EndpointLoad {
 public:
  using Clock = std::chrono::steady_clock;

  // `slow_start_ms` (0: off) and `slow_start_min_percent`: the ramp of a joining or returning
  // endpoint.
  EndpointLoad(std::string address, std::chrono::milliseconds latency_decay, int slow_start_ms,
               int slow_start_min_percent);
  EndpointLoad(const EndpointLoad&) = delete;
  EndpointLoad& operator=(const EndpointLoad&) = delete;

  // Set once, before the endpoint is shared: whose breaker says whether it is in rotation.
  void set_outlier(std::shared_ptr<const OutlierDetector> outlier) { outlier_ = std::move(outlier); }
  // Set once, before the endpoint is shared: told once per stall a picker found (any thread).
  void set_on_stall(std::function<void()> on_stall) { on_stall_ = std::move(on_stall); }

  const std::string& address() const { return address_; }
  int weight() const { return weight_.load(std::memory_order_relaxed); }
  void set_weight(int w) { weight_.store(w, std::memory_order_relaxed); }
  // Usable for new calls: breaker closed and not waiting out a reconnect backoff (the clock is
  // read only while a backoff is set: this runs for every endpoint a pick looks at).
  bool healthy() const;
  // Waiting out a reconnect backoff until `until` (Clock::time_point{} : not waiting).
  void set_backoff_until(Clock::time_point until) {
    backoff_until_.store(until.time_since_epoch().count(), std::memory_order_relaxed);
  }
  Clock::time_point backoff_until() const { return Clock::time_point(Clock::duration(backoff_until_.load(std::memory_order_relaxed))); }
  uint64_t inflight() const { return inflight_.load(std::memory_order_relaxed); }
  // The endpoint refused a call for overload and asked for no retry before `until` (pushback).
  void set_pushback_until(Clock::time_point until) {
    pushback_until_.store(until.time_since_epoch().count(), std::memory_order_relaxed);
  }
  // Whether it asked for room until after `now` (it has none for calls it refused).
  bool pushed_back(Clock::time_point now) const {
    return now.time_since_epoch().count() < pushback_until_.load(std::memory_order_relaxed);
  }
  const LatencyEwma& ewma() const { return ewma_; }

  // An attempt went out more than `threshold` ago and no answer has come since (attempts that
  // were cancelled meanwhile, e.g. losing hedges, still count): frozen, or cut off.
  bool stalled(Clock::time_point now, Clock::duration threshold) const;
  // Found stalled by a pick: reported (on_stall) once per stall.
  void SuspectStall();
  uint64_t stalls() const { return stalls_.load(std::memory_order_relaxed); }
  // A stall that is still there is reported again (after a probe answered).
  void RearmStallReport() { stall_reported_.store(false, std::memory_order_relaxed); }
  // An answer came (a call's or a health check's): the endpoint is making progress.
  void MarkProgress(Clock::time_point now);

  // Share of a full load it may take now: 1 unless in its slow-start ramp.
  double SlowStartShare(Clock::time_point now) const;
  void StartSlowStart(Clock::time_point now);

  // An attempt starts (any thread) / ends (the subchannel's thread). AttemptEnded records its
  // latency and progress, and returns whether the outcome counts against the endpoint.
  void AttemptStarted(Clock::time_point now);
  bool AttemptEnded(const Status& status, Clock::duration latency, Clock::time_point now);
  // Successful calls and their summed latency since the last call (the latency sweep's view).
  void TakeInterval(uint64_t* calls, uint64_t* latency_us);

 private:
  const std::string address_;
  const int slow_start_ms_;
  const int slow_start_min_percent_;
  std::function<void()> on_stall_;
  std::shared_ptr<const OutlierDetector> outlier_;
  LatencyEwma ewma_;
  std::atomic<int64_t> pushback_until_{0};  // steady_clock ticks
  std::atomic<int> weight_{100};
  std::atomic<int64_t> backoff_until_{0};        // steady_clock ticks (0: none)
  std::atomic<uint64_t> inflight_{0};
  std::atomic<int64_t> first_unanswered_ns_{0};  // the first attempt sent since the last answer (0: none)
  std::atomic<bool> stall_reported_{false};      // until the next answer
  std::atomic<uint64_t> stalls_{0};
  std::atomic<int64_t> ramp_start_ns_{0};        // slow start began (0: not ramping)
  std::atomic<uint64_t> interval_calls_{0};
  std::atomic<uint64_t> interval_latency_us_{0};
};

}  // namespace krpc::impl
