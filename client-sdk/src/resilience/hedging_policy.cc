#include "hedging_policy.h"

#include <atomic>

namespace krpc::impl {
namespace {
std::atomic<uint64_t> next_policy_id{1};
}

HedgingPolicy::HedgingPolicy(const HedgingOptions& options)
    : options_(options),
      budget_(options.budget_percent / 100.0, 0),
      id_(next_policy_id.fetch_add(1)),
      windows_(std::make_shared<const Windows>()) {}

LatencyWindow& HedgingPolicy::For(const google::protobuf::MethodDescriptor* method) {
  // Per-thread cache of the last method: the common case touches no shared state.
  struct Last {
    uint64_t owner = 0;
    const void* method = nullptr;
    std::shared_ptr<LatencyWindow> window;
  };
  static thread_local Last last;
  if (last.owner == id_ && last.method == method) return *last.window;
  auto map = windows_.load();
  auto it = map->find(method);
  std::shared_ptr<LatencyWindow> w;
  if (it != map->end()) {
    w = it->second;
  } else {
    std::lock_guard lock(mu_);
    map = windows_.load();
    it = map->find(method);
    if (it != map->end()) {
      w = it->second;
    } else {
      w = std::make_shared<LatencyWindow>(options_.percentile / 100.0);
      auto next = std::make_shared<Windows>(*map);
      (*next)[method] = w;
      windows_.store(std::move(next));
    }
  }
  last = {id_, method, w};
  return *w;
}

std::optional<HedgingPolicy::Clock::duration> HedgingPolicy::Delay(const google::protobuf::MethodDescriptor* method,
                                                                   Clock::time_point now) {
  if (!options_.enabled) return std::nullopt;
  if (options_.delay_ms > 0) return std::chrono::milliseconds(options_.delay_ms);
  uint64_t samples = 0;
  const uint64_t us = For(method).Quantile(now, &samples);
  if (samples < static_cast<uint64_t>(options_.min_samples)) return std::nullopt;
  return std::max<Clock::duration>(std::chrono::microseconds(us), std::chrono::milliseconds(options_.min_delay_ms));
}

void HedgingPolicy::Record(const google::protobuf::MethodDescriptor* method, Clock::duration latency,
                           Clock::time_point now) {
  if (!options_.enabled || options_.delay_ms > 0) return;
  For(method).Record(static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(latency).count()), now);
}

}  // namespace krpc::impl
