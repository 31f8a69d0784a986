// CallAttempts: the attempt state machine of a channel's unary calls: the first attempt,
// retries (RetryPolicy: codes, idempotency, backoff, budget; transparent re-picks of attempts
// that provably never ran), per-try timeouts (enforced by the transport) and hedges
// (HedgingPolicy). Every attempt's end comes here (it is the calls' AttemptSink); the first
// answer that is a success or a non-retryable failure decides the call, the attempts still in
// flight are cancelled, and the call finishes when the last of them has ended. It takes
// endpoints from the channel's RouteTable and, as the routes' RouteCalls, resumes the calls
// they parked. A streaming sibling will sit beside it. docs/client.md tells the whole story.
//
// Threading: any thread; a call's own state is guarded by its CallData::mu.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "call_data.h"
#include "krpc/channel.h"
#include "krpc/client_observer.h"
#include "resilience/hedging_policy.h"
#include "resilience/retry_policy.h"
#include "route.h"
#include "route_table.h"

namespace krpc::impl {

// A refusal's retry pushback (krpc-retry-pushback-ms, or gRPC's grpc-retry-pushback-ms): a
// delay in ms, or -1 (any negative or unreadable value) for "do not retry"; nullopt: none.
std::optional<int64_t> RetryPushback(const std::vector<std::pair<std::string, std::string>>& metadata);

class CallAttempts final : public AttemptSink, public RouteCalls, public std::enable_shared_from_this<CallAttempts> {
 public:
  CallAttempts(std::shared_ptr<const RouteConfig> config, std::shared_ptr<RouteTable> routes, RetryPolicy retry,
               std::shared_ptr<ClientObserver> observer, std::string target);

  // A call begins (its settings and `start` are set): admission, then its first attempt.
  void Start(CallData* call);
  // From now on nothing is retried and new calls fail UNAVAILABLE.
  void Shutdown() { shut_down_.store(true); }
  bool shut_down() const { return shut_down_.load(std::memory_order_relaxed); }
  // The counters of ChannelStats this class keeps.
  void AddStats(ChannelStats& s) const;

  // AttemptSink
  void OnAttemptDone(Attempt* attempt, Status status, bool not_executed) override;
  void OnHedgeDue(Attempt* attempt) override;
  void OnCanceledWhileParked(CallData* call) override;
  // RouteCalls
  void ResumeCall(CallData* call) override { StartAttempt(call, AttemptKind::kFirst); }
  // Completes the call (all attempts ended) and reports it to the observer.
  void FinishCall(CallData* call, Status status) override;

 private:
  enum class AttemptKind { kFirst, kRetry, kHedge, kExtra };
  // kFirst and kRetry start when no attempt is in flight; a kHedge (after the hedging delay)
  // or a kExtra (a retry while hedges still run) starts beside others, on an endpoint the
  // call has not tried, and is dropped silently when it cannot. `now`: the time if the caller
  // just read it (a call's first attempt starts at the call's start); otherwise it is read here.
  void StartAttempt(CallData* call, AttemptKind kind, CallData::Clock::time_point now = {});
  // Under call->mu.
  // `overload`: the server refused the call for overload (its answer carried a pushback).
  bool TransparentRetry(const CallData* call, const Status& status, bool not_executed, bool overload,
                        CallData::Clock::time_point now) const;
  // An endpoint of the call's route it has not tried is usable and has not asked for room.
  bool AnotherEndpointHasRoom(const CallData* call, CallData::Clock::time_point now) const;
  void CountRetry(const CallData* call, bool transparent);
  bool ShouldRetry(CallData* call, const Status& status, bool not_executed, bool per_try_timeout,
                   CallData::Clock::time_point now, std::chrono::milliseconds* backoff);
  void RetryAfter(CallData* call, std::chrono::milliseconds backoff);

  const std::shared_ptr<const RouteConfig> config_;
  const std::shared_ptr<RouteTable> routes_;
  RetryPolicy retry_;
  HedgingPolicy hedging_;
  const std::shared_ptr<ClientObserver> observer_;  // may be null
  const std::string target_;
  std::atomic<bool> shut_down_{false};
  std::atomic<uint64_t> calls_{0};
  std::atomic<uint64_t> retries_{0};
  std::atomic<uint64_t> transparent_retries_{0};
  std::atomic<uint64_t> per_try_timeouts_{0};
  std::atomic<uint64_t> hedges_{0};
  std::atomic<uint64_t> hedges_won_{0};
  std::atomic<uint64_t> pushbacks_{0};  // refusals whose pushback delayed or forbade a retry
};

}  // namespace krpc::impl
