#include "circuit_breaker.h"

#include <algorithm>

namespace krpc::impl {
namespace {
// Spread of each isolation time, so endpoints ejected together do not return together.
constexpr double kIsolationJitter = 0.2;
}  // namespace

bool IsEndpointFailure(StatusCode code) {
  switch (code) {
    case StatusCode::kUnavailable:
    case StatusCode::kDeadlineExceeded:
    case StatusCode::kResourceExhausted:
    case StatusCode::kInternal:
    case StatusCode::kUnknown:
    case StatusCode::kDataLoss:
      return true;
    default:
      return false;
  }
}

CircuitBreaker::CircuitBreaker(BreakerOptions options)
    : options_(options), isolation_(options.base_isolation_ms), rng_(std::random_device{}()) {}

void CircuitBreaker::SetState(State s) {
  if (state_.exchange(s, std::memory_order_acq_rel) != s) transitions_.fetch_add(1);
}

void CircuitBreaker::ClearWindow() {
  for (auto& b : window_) b = Bucket{};
}

bool CircuitBreaker::OnResult(bool failure, Clock::time_point now) {
  if (!options_.enabled || state() != State::kClosed) return false;
  consecutive_ = failure ? consecutive_ + 1 : 0;
  const int64_t sec = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  Bucket& b = window_[static_cast<size_t>(sec) % window_.size()];
  if (b.second != sec) b = Bucket{sec, 0, 0};
  ++b.calls;
  if (failure) ++b.failures;
  if (consecutive_ >= options_.consecutive_failures) return true;
  if (!failure) return false;
  const int64_t span = std::clamp<int64_t>(options_.window_ms / 1000, 1, static_cast<int64_t>(window_.size()));
  uint64_t calls = 0, failures = 0;
  for (const auto& w : window_) {
    if (w.second > sec - span) {
      calls += w.calls;
      failures += w.failures;
    }
  }
  return calls >= static_cast<uint64_t>(options_.min_requests) &&
         static_cast<double>(failures) > options_.error_rate * static_cast<double>(calls);
}

CircuitBreaker::Clock::time_point CircuitBreaker::Open(Clock::time_point now) {
  std::uniform_real_distribution<double> jitter(1.0 - kIsolationJitter, 1.0 + kIsolationJitter);
  const auto wait = std::chrono::milliseconds(static_cast<int64_t>(static_cast<double>(isolation_.count()) * jitter(rng_)));
  open_until_ = now + wait;
  isolation_ = std::min(std::chrono::milliseconds(options_.max_isolation_ms), isolation_ * 2);
  consecutive_ = 0;
  probes_passed_ = 0;
  ClearWindow();
  SetState(State::kOpen);
  return open_until_;
}

void CircuitBreaker::EnterHalfOpen() {
  probes_passed_ = 0;
  SetState(State::kHalfOpen);
}

CircuitBreaker::State CircuitBreaker::OnProbeResult(bool success, Clock::time_point now) {
  if (state() != State::kHalfOpen) return state();
  if (!success) {
    Open(now);
  } else if (++probes_passed_ >= options_.half_open_probes) {
    isolation_ = std::chrono::milliseconds(options_.base_isolation_ms);
    consecutive_ = 0;
    ClearWindow();
    SetState(State::kClosed);
  }
  return state();
}

void CircuitBreaker::Reset() {
  consecutive_ = 0;
  probes_passed_ = 0;
  ClearWindow();
  SetState(State::kClosed);
}

}  // namespace krpc::impl
