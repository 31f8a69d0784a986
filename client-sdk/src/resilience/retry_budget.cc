#include "retry_budget.h"

#include <algorithm>

namespace krpc::impl {
namespace {
int64_t Second(RetryBudget::Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}
}  // namespace

RetryBudget::Bucket& RetryBudget::Current(int64_t sec) {
  Bucket& b = buckets_[static_cast<size_t>(sec) % buckets_.size()];
  int64_t seen = b.second.load(std::memory_order_acquire);
  if (seen != sec && b.second.compare_exchange_strong(seen, sec)) {
    b.requests.store(0, std::memory_order_relaxed);
    b.retries.store(0, std::memory_order_relaxed);
  }
  return b;
}

void RetryBudget::Sum(int64_t sec, uint64_t* requests, uint64_t* retries) const {
  const int64_t span = std::clamp<int64_t>(window_.count(), 1, static_cast<int64_t>(buckets_.size()));
  *requests = *retries = 0;
  for (const auto& b : buckets_) {
    const int64_t s = b.second.load(std::memory_order_acquire);
    if (s > sec - span && s <= sec) {
      *requests += b.requests.load(std::memory_order_relaxed);
      *retries += b.retries.load(std::memory_order_relaxed);
    }
  }
}

void RetryBudget::OnRequest(Clock::time_point now) {
  Current(Second(now)).requests.fetch_add(1, std::memory_order_relaxed);
}

bool RetryBudget::Exhausted(Clock::time_point now) const {
  uint64_t requests = 0, retries = 0;
  Sum(Second(now), &requests, &retries);
  const double allowed = ratio_ * static_cast<double>(requests) + min_per_second_ * static_cast<double>(window_.count());
  return static_cast<double>(retries) + 1 > allowed;
}

bool RetryBudget::TryRetry(Clock::time_point now) {
  const int64_t sec = Second(now);
  if (Exhausted(now)) {
    exhausted_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  Current(sec).retries.fetch_add(1, std::memory_order_relaxed);
  return true;
}

}  // namespace krpc::impl
