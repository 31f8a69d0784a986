// RetryBudget: retries allowed = ratio * requests + min_per_second * window, both counted
// over a sliding window (Finagle's RetryBudget, Envoy's retry_budget). Lock-free: per-second
// buckets with atomic counters. Time is passed in, so tests drive it.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>

namespace krpc::impl {

class RetryBudget {
 public:
  using Clock = std::chrono::steady_clock;
  // Retries allowed over `window`: ratio * requests + min_per_second * window.
  explicit RetryBudget(double ratio = 0.2, double min_per_second = 10, std::chrono::seconds window = std::chrono::seconds(10))
      : ratio_(ratio), min_per_second_(min_per_second), window_(window) {}

  // A first attempt (a request).
  void OnRequest(Clock::time_point now);
  // Takes a retry from the budget; false (and counted) when the budget is exhausted.
  bool TryRetry(Clock::time_point now);
  // No retry left now (nothing taken): the cluster is failing more than the budget allows.
  bool Exhausted(Clock::time_point now) const;
  uint64_t exhausted() const { return exhausted_.load(std::memory_order_relaxed); }

 private:
  struct Bucket {
    std::atomic<int64_t> second{-1};
    std::atomic<uint64_t> requests{0};
    std::atomic<uint64_t> retries{0};
  };
  Bucket& Current(int64_t sec);
  void Sum(int64_t sec, uint64_t* requests, uint64_t* retries) const;

  double ratio_;
  double min_per_second_;
  std::chrono::seconds window_;
  std::array<Bucket, 64> buckets_;
  std::atomic<uint64_t> exhausted_{0};
};

}  // namespace krpc::impl
