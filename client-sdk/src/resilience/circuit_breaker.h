// CircuitBreaker: per-endpoint outlier detection. Closed -> Open after `consecutive_failures`
// failures in a row, or an error rate above `error_rate` over `window` with at least
// `min_requests`. Open isolates the endpoint for a time that starts at `base_isolation` and
// doubles (with jitter) up to `max_isolation` each time it re-opens. When the isolation ends
// it is HalfOpen: `half_open_probes` health probes go out; all must pass to close, any
// failure re-opens.
//
// Thread contract: the mutating calls (OnResult, TryOpen..., OnProbe...) come from one thread
// (the endpoint's I/O thread); state() may be read from any thread. Time is passed in, so
// tests drive it.
#pragma once

#include "krpc/client_options.h"
#include "krpc/endpoint_state.h"

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <random>

#include "krpc/status.h"

namespace krpc::impl {

// Codes that say something about the endpoint (not about the request): they count as failures.
bool IsEndpointFailure(StatusCode code);

class CircuitBreaker {
 public:
  using Clock = std::chrono::steady_clock;
  using State = BreakerState;

  explicit CircuitBreaker(BreakerOptions options = {});

  State state() const { return state_.load(std::memory_order_acquire); }
  // Records a call's outcome. Returns true when the breaker wants to open (the caller decides
  // through the ejection cap, then calls Open()).
  bool OnResult(bool failure, Clock::time_point now);
  // Opens: the endpoint is isolated until the returned time.
  Clock::time_point Open(Clock::time_point now);
  // The isolation ended: start probing.
  void EnterHalfOpen();
  // A probe's outcome; returns the new state.
  State OnProbeResult(bool success, Clock::time_point now);
  // Forces Closed (endpoint removed and re-added, or the cap refused the ejection).
  void Reset();

  Clock::time_point open_until() const { return open_until_; }
  std::chrono::milliseconds next_isolation() const { return isolation_; }
  uint64_t transitions() const { return transitions_.load(); }
  const BreakerOptions& options() const { return options_; }

 private:
  struct Bucket {
    int64_t second = -1;
    uint32_t calls = 0;
    uint32_t failures = 0;
  };
  void SetState(State s);
  void ClearWindow();

  BreakerOptions options_;
  std::atomic<State> state_{State::kClosed};
  std::atomic<uint64_t> transitions_{0};
  int consecutive_ = 0;
  int probes_passed_ = 0;
  std::chrono::milliseconds isolation_;
  Clock::time_point open_until_{};
  std::array<Bucket, 64> window_{};  // 1-second buckets (window up to 64 s)
  std::minstd_rand rng_;
};

}  // namespace krpc::impl
