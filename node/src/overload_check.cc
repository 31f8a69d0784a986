#include "overload_check.h"

namespace krpc::node {

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
      shared.overload_refused.fetch_add(1, std::memory_order_relaxed);
      v.why = "node overloaded (adaptive limit of " + std::to_string(limit->limit()) + " calls in flight)";
      v.kind = OverloadVerdict::kOverloaded;
      return v;
    }
    v.node_slot = true;
  }
  if (auto* limit = load.limit.get()) {
    if (!limit->TryAcquire()) {
      if (v.node_slot) shared.node_limit->Release({}, now, false);
      v.node_slot = false;
      shared.overload_refused.fetch_add(1, std::memory_order_relaxed);
      v.why = entry.full_name + " overloaded (" + (limit->adaptive() ? "adaptive limit of " : "method_max_inflight=") +
             std::to_string(limit->limit()) + " calls in flight)";
      v.kind = OverloadVerdict::kOverloaded;
      return v;
    }
    v.method_slot = true;
  }
  return v;
}

}  // namespace krpc::node
