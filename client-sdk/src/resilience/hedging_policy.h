// HedgingPolicy: when an idempotent call gets a hedged attempt (gRFC A6 hedging, brpc's
// backup requests, Finagle's backup requests with a budget). The delay is fixed
// (hedge_delay_ms) or adaptive: the hedge_percentile of the method's recent latency (a
// LatencyWindow per method), never below hedge_min_delay_ms, and none until the method has
// hedge_min_samples calls in the window. Every hedge takes a token from a budget of
// hedge_budget_percent of requests over 10 s, so an overloaded cluster is never doubled.
// Thread-safe; time is passed in, so tests drive it.
#pragma once

#include <google/protobuf/descriptor.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "krpc/client_options.h"
#include "krpc/impl/snapshot.h"
#include "latency_window.h"
#include "retry_budget.h"

namespace krpc::impl {

class HedgingPolicy {
 public:
  using Clock = std::chrono::steady_clock;

  explicit HedgingPolicy(const HedgingOptions& options);

  bool enabled() const { return options_.enabled; }
  int max_hedges() const { return options_.max_hedges; }
  // How long after an attempt starts a hedge goes out; nullopt: no hedge (yet) for `method`.
  std::optional<Clock::duration> Delay(const google::protobuf::MethodDescriptor* method, Clock::time_point now);
  // A successful attempt of `method` took `latency` (feeds the adaptive delay).
  void Record(const google::protobuf::MethodDescriptor* method, Clock::duration latency, Clock::time_point now);
  // A first attempt (the budget's request rate).
  void OnRequest(Clock::time_point now) { budget_.OnRequest(now); }
  // Takes a hedge from the budget; false (and counted) when it is spent.
  bool TryHedge(Clock::time_point now) { return budget_.TryRetry(now); }
  uint64_t budget_exhausted() const { return budget_.exhausted(); }

 private:
  using Windows = std::unordered_map<const google::protobuf::MethodDescriptor*, std::shared_ptr<LatencyWindow>>;
  LatencyWindow& For(const google::protobuf::MethodDescriptor* method);

  const HedgingOptions options_;
  RetryBudget budget_;
  const uint64_t id_;  // process-unique, for the per-thread lookup cache
  std::mutex mu_;      // inserts only
  Snapshot<Windows> windows_;
};

}  // namespace krpc::impl
