#include "latency_window.h"

#include <bit>

namespace krpc::impl {

int LatencyWindow::BucketOf(uint64_t us) {
  if (us < 4) return static_cast<int>(us);
  const int p = 63 - std::countl_zero(us);  // floor(log2(us)) >= 2
  const int sub = static_cast<int>((us >> (p - 2)) & 3);
  const int b = 4 + (p - 2) * 4 + sub;
  return b < kBuckets ? b : kBuckets - 1;
}

uint64_t LatencyWindow::UpperBound(int b) {
  if (b < 4) return static_cast<uint64_t>(b);
  const int p = (b - 4) / 4 + 2;
  const uint64_t sub = static_cast<uint64_t>((b - 4) % 4);
  return ((5 + sub) << (p - 2)) - 1;
}

void LatencyWindow::Record(uint64_t us, Clock::time_point now) {
  const int64_t epoch = Epoch(now);
  Window& w = windows_[epoch & 1];
  int64_t seen = w.epoch.load(std::memory_order_acquire);
  if (seen != epoch && seen < epoch && w.epoch.compare_exchange_strong(seen, epoch)) {
    for (auto& c : w.counts) c.store(0, std::memory_order_relaxed);
  }
  w.counts[static_cast<size_t>(BucketOf(us))].fetch_add(1, std::memory_order_relaxed);
}

uint64_t LatencyWindow::Percentile(double q, Clock::time_point now, uint64_t* samples) const {
  const int64_t epoch = Epoch(now);
  std::array<uint64_t, kBuckets> sum{};
  uint64_t total = 0;
  for (const auto& w : windows_) {
    const int64_t e = w.epoch.load(std::memory_order_acquire);
    if (e != epoch && e != epoch - 1) continue;
    for (int i = 0; i < kBuckets; ++i) {
      const uint64_t c = w.counts[static_cast<size_t>(i)].load(std::memory_order_relaxed);
      sum[static_cast<size_t>(i)] += c;
      total += c;
    }
  }
  if (samples) *samples = total;
  if (total == 0) return 0;
  const auto rank = static_cast<uint64_t>(q * static_cast<double>(total - 1)) + 1;
  uint64_t seen = 0;
  for (int i = 0; i < kBuckets; ++i) {
    seen += sum[static_cast<size_t>(i)];
    if (seen >= rank) return UpperBound(i);
  }
  return UpperBound(kBuckets - 1);
}

uint64_t LatencyWindow::Quantile(Clock::time_point now, uint64_t* samples) const {
  const int64_t ns = now.time_since_epoch().count();
  int64_t until = cached_until_ns_.load(std::memory_order_relaxed);
  if (ns >= until && cached_until_ns_.compare_exchange_strong(until, ns + 100'000'000)) {
    uint64_t n = 0;
    cached_value_.store(Percentile(q_, now, &n), std::memory_order_relaxed);
    cached_samples_.store(n, std::memory_order_relaxed);
  }
  if (samples) *samples = cached_samples_.load(std::memory_order_relaxed);
  return cached_value_.load(std::memory_order_relaxed);
}

}  // namespace krpc::impl
