#include "endpoint_load.h"

#include <algorithm>

namespace krpc::impl {

EndpointLoad::EndpointLoad(std::string address, std::chrono::milliseconds latency_decay, int slow_start_ms,
                           int slow_start_min_percent)
    : address_(std::move(address)),
      slow_start_ms_(slow_start_ms),
      slow_start_min_percent_(slow_start_min_percent),
      ewma_(latency_decay) {}

bool EndpointLoad::healthy() const {
  if (outlier_ && !outlier_->in_rotation()) return false;
  const int64_t until = backoff_until_.load(std::memory_order_relaxed);
  return until == 0 || Clock::now().time_since_epoch().count() >= until;
}

bool EndpointLoad::stalled(Clock::time_point now, Clock::duration threshold) const {
  const int64_t since = first_unanswered_ns_.load(std::memory_order_relaxed);
  return since != 0 && now.time_since_epoch().count() - since > threshold.count();
}

void EndpointLoad::SuspectStall() {
  if (stall_reported_.exchange(true, std::memory_order_relaxed)) return;
  stalls_.fetch_add(1, std::memory_order_relaxed);
  if (on_stall_) on_stall_();
}

void EndpointLoad::MarkProgress(Clock::time_point now) {
  first_unanswered_ns_.store(inflight() > 0 ? now.time_since_epoch().count() : 0, std::memory_order_relaxed);
  stall_reported_.store(false, std::memory_order_relaxed);
}

double EndpointLoad::SlowStartShare(Clock::time_point now) const {
  const int64_t start = ramp_start_ns_.load(std::memory_order_relaxed);
  if (start == 0) return 1.0;
  const double window_ns = static_cast<double>(slow_start_ms_) * 1e6;
  const double f = static_cast<double>(now.time_since_epoch().count() - start) / window_ns;
  if (f >= 1.0) return 1.0;
  return std::max(slow_start_min_percent_ / 100.0, f);
}

void EndpointLoad::StartSlowStart(Clock::time_point now) {
  if (slow_start_ms_ <= 0) return;
  ramp_start_ns_.store(now.time_since_epoch().count(), std::memory_order_relaxed);
}

void EndpointLoad::AttemptStarted(Clock::time_point now) {
  inflight_.fetch_add(1, std::memory_order_relaxed);
  int64_t none = 0;
  first_unanswered_ns_.compare_exchange_strong(none, now.time_since_epoch().count(), std::memory_order_relaxed);
}

bool EndpointLoad::AttemptEnded(const Status& status, Clock::duration latency, Clock::time_point now) {
  inflight_.fetch_sub(1, std::memory_order_relaxed);
  const bool failure = IsEndpointFailure(status.code());
  double us = static_cast<double>(std::chrono::duration_cast<std::chrono::microseconds>(latency).count());
  const bool cancelled = status.code() == StatusCode::kCancelled;  // e.g. a losing hedge
  // Progress: an answer from the endpoint (a timeout or a cancel is none).
  if (!cancelled && status.code() != StatusCode::kDeadlineExceeded) MarkProgress(now);
  if (status.ok() || cancelled) {  // a cancelled attempt's time is a lower bound of its latency
    interval_calls_.fetch_add(1, std::memory_order_relaxed);
    interval_latency_us_.fetch_add(static_cast<uint64_t>(us), std::memory_order_relaxed);
  }
  // A fast failure must not look attractive to latency-based balancing: it counts as at least
  // 10 ms, or twice the current average (capped at 10 s so repeated failures cannot overflow).
  if (failure) us = std::max({us, std::min(ewma_.value_us() * 2, 1e7), 10000.0});
  ewma_.Observe(us, now);
  return failure;
}

void EndpointLoad::TakeInterval(uint64_t* calls, uint64_t* latency_us) {
  *calls = interval_calls_.exchange(0, std::memory_order_relaxed);
  *latency_us = interval_latency_us_.exchange(0, std::memory_order_relaxed);
}

}  // namespace krpc::impl
