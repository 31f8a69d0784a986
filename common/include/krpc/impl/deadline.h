// Deadline arithmetic that saturates instead of overflowing: a timeout too large to add to
// `from` (a peer may send 2^63 microseconds) means "no deadline". Internal header.
#pragma once

#include <chrono>
#include <cstdint>

namespace krpc::impl {

// from + timeout_us, or time_point::max() when timeout_us is 0 or the sum does not fit.
inline std::chrono::steady_clock::time_point SaturatingDeadline(std::chrono::steady_clock::time_point from,
                                                                uint64_t timeout_us) {
  using Clock = std::chrono::steady_clock;
  if (timeout_us == 0) return Clock::time_point::max();
  const auto room = std::chrono::duration_cast<std::chrono::microseconds>(Clock::time_point::max() - from).count();
  if (room <= 0 || timeout_us >= static_cast<uint64_t>(room)) return Clock::time_point::max();
  return from + std::chrono::microseconds(static_cast<int64_t>(timeout_us));
}

// from + timeout, saturating the same way (timeout <= 0 is "none": time_point::max()).
template <typename Rep, typename Period>
std::chrono::steady_clock::time_point SaturatingDeadline(std::chrono::steady_clock::time_point from,
                                                         std::chrono::duration<Rep, Period> timeout) {
  if (timeout.count() <= 0) return std::chrono::steady_clock::time_point::max();
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(timeout).count();
  // A duration so large that the cast overflowed to a negative count is "none" as well.
  if (us <= 0) return std::chrono::steady_clock::time_point::max();
  return SaturatingDeadline(from, static_cast<uint64_t>(us));
}

}  // namespace krpc::impl
