// ReconnectBackoff: the delay before reconnecting to an endpoint whose connect failed:
// initial * multiplier^n, +- jitter, at most max (gRPC's connection backoff); back to the
// initial delay once connected, or when discovery reports a change.
// Not thread-safe: the endpoint's I/O thread owns it.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <random>

#include "krpc/client_options.h"

namespace krpc::impl {

class ReconnectBackoff {
 public:
  explicit ReconnectBackoff(const ReconnectBackoffOptions& o, uint32_t seed = std::random_device{}())
      : o_(o), next_(o.initial_ms), rng_(seed) {}
  // The delay before the next attempt (jittered); the one after grows by the multiplier.
  std::chrono::milliseconds Next() {
    std::uniform_real_distribution<double> jitter(1.0 - o_.jitter, 1.0 + o_.jitter);
    const auto wait = std::chrono::milliseconds(static_cast<int64_t>(static_cast<double>(next_.count()) * jitter(rng_)));
    next_ = std::min(std::chrono::milliseconds(o_.max_ms),
                     std::chrono::milliseconds(static_cast<int64_t>(static_cast<double>(next_.count()) * o_.multiplier)));
    return wait;
  }
  void Reset() { next_ = std::chrono::milliseconds(o_.initial_ms); }

 private:
  const ReconnectBackoffOptions o_;
  std::chrono::milliseconds next_;
  std::minstd_rand rng_;
};

}  // namespace krpc::impl
