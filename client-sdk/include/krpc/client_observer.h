// ClientObserver: per-call hooks for metrics, set once on a ClientRuntime and used by every
// channel created from it. Called on I/O threads; must be thread-safe and cheap.
#pragma once

#include <chrono>

#include "krpc/status.h"

namespace google::protobuf {
class MethodDescriptor;
}

namespace krpc {

class ClientObserver {
 public:
  virtual ~ClientObserver() = default;
  // A call completed (after all its attempts).
  virtual void OnCallFinished(const google::protobuf::MethodDescriptor* method, StatusCode code,
                              std::chrono::nanoseconds latency, int attempts) {}
  virtual void OnRetry(const google::protobuf::MethodDescriptor* method) {}
  // An attempt that provably never ran (never sent, or refused unexecuted by a draining node)
  // was re-picked outside the retry policy (not counted by max_attempts or the retry budget).
  virtual void OnTransparentRetry(const google::protobuf::MethodDescriptor* method) {}
  virtual void OnRetryBudgetExhausted(const google::protobuf::MethodDescriptor* method) {}
  // An overload refusal carried a retry pushback (its endpoint has no room until it ends).
  virtual void OnPushback(const google::protobuf::MethodDescriptor* method) {}
  // An attempt ran out its per-try timeout.
  virtual void OnPerTryTimeout(const google::protobuf::MethodDescriptor* method) {}
  // A hedged attempt was sent; a call's answer came from a hedge; the hedge budget refused one.
  virtual void OnHedge(const google::protobuf::MethodDescriptor* method) {}
  virtual void OnHedgeWon(const google::protobuf::MethodDescriptor* method) {}
  virtual void OnHedgeBudgetExhausted(const google::protobuf::MethodDescriptor* method) {}
};

}  // namespace krpc
