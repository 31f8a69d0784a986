#include "overload_check.h"

namespace krpc::node {
namespace {
std::string NodeLimitRefusal(const ConcurrencyLimit& limit) {
  return "node overloaded (adaptive limit of " + std::to_string(limit.limit()) + " calls in flight)";
}
std::string MethodLimitRefusal(const MethodEntry& entry, const ConcurrencyLimit& limit) {
  return entry.full_name + " overloaded (" + (limit.adaptive() ? "adaptive limit of " : "method_max_inflight=") +
         std::to_string(limit.limit()) + " calls in flight)";
}
}  // namespace

std::string MaxInflightRefusal(const ServerShared& shared) {
  return "too many calls in flight (max_inflight=" + std::to_string(shared.options.max_inflight) + ")";
}

std::string AtLimit(const ServerShared& shared, const MethodEntry& entry) {
  if (shared.inflight.load(std::memory_order_relaxed) >= shared.options.max_inflight) return MaxInflightRefusal(shared);
  if (const auto* limit = shared.node_limit.get(); limit && limit->inflight() >= limit->limit()) {
    return NodeLimitRefusal(*limit);
  }
  if (const auto* limit = entry.load->limit.get(); limit && limit->inflight() >= limit->limit()) {
    return MethodLimitRefusal(entry, *limit);
  }
  return {};
}

OverloadVerdict CheckOverload(ServerShared& shared, const MethodEntry& entry,
                              std::chrono::steady_clock::time_point deadline, std::chrono::steady_clock::time_point now) {
  using Clock = std::chrono::steady_clock;
  OverloadVerdict v;
  MethodLoad& load = *entry.load;
  if (shared.options.early_refusal && deadline != Clock::time_point::max()) {
    const auto median = load.service_time.median();
    if (median > Clock::duration::zero() && deadline - now < median) {
      shared.early_refused.fetch_add(1, std::memory_order_relaxed);
      using std::chrono::duration_cast, std::chrono::microseconds;
      v.why = "remaining deadline of " + std::to_string(duration_cast<microseconds>(deadline - now).count()) +
             " us is below the median handler time of " + entry.full_name + " (" +
             std::to_string(duration_cast<microseconds>(median).count()) + " us)";
      v.kind = OverloadVerdict::kTooLate;
      return v;
    }
  }
  if (auto* limit = shared.node_limit.get()) {
    if (!limit->TryAcquire()) {
      v.why = NodeLimitRefusal(*limit);
      v.kind = OverloadVerdict::kOverloaded;
      return v;
    }
    v.node_slot = true;
  }
  if (auto* limit = load.limit.get()) {
    if (!limit->TryAcquire()) {
      if (v.node_slot) shared.node_limit->Release({}, now, false);
      v.node_slot = false;
      v.why = MethodLimitRefusal(entry, *limit);
      v.kind = OverloadVerdict::kOverloaded;
      return v;
    }
    v.method_slot = true;
  }
  return v;
}

}  // namespace krpc::node
