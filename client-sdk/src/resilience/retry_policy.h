// RetryPolicy: whether a failed attempt is tried again, and after how long, and each
// attempt's per-try timeout. A retry needs a retryable code (retry_codes; DEADLINE_EXCEEDED
// only when it was the attempt's per-try timeout, not the call's deadline), attempts left, a call that is not
// cancelled, proof that the request did not run (not_executed) or a method safe to run twice
// (the call's idempotent flag or idempotent_methods), a backoff that ends before the deadline
// (full jitter over base * 2^(attempt-1), capped), and a token from the channel's retry
// budget. HedgingPolicy is the other attempt policy beside this one.
// Thread-safe: the configuration is immutable, the budget is lock-free.
#pragma once

#include <google/protobuf/descriptor.h>

#include <chrono>
#include <string>
#include <vector>

#include "krpc/channel.h"
#include "krpc/status.h"
#include "retry_budget.h"

namespace krpc::impl {

class RetryPolicy {
 public:
  using Clock = std::chrono::steady_clock;

  // What one failed attempt looks like to the policy.
  struct Attempt {
    const google::protobuf::MethodDescriptor* method = nullptr;
    int attempts = 0;          // made so far, this one included
    bool idempotent = false;   // marked by the caller
    bool not_executed = false; // the server says the handler never ran
    bool per_try_timeout = false;  // the attempt ran out its per-try timeout (not the call's deadline)
    Clock::time_point deadline = Clock::time_point::max();
  };
  enum class Verdict { kRetry, kFinal, kBudgetExhausted };
  struct Decision {
    Verdict verdict = Verdict::kFinal;
    std::chrono::milliseconds backoff{0};
  };

  // Reads retry_codes, idempotent_methods, max_attempts, retry_backoff_*, retry_budget_*;
  // a bad value is an error naming its key.
  static StatusOr<RetryPolicy> FromOptions(const ChannelOptions& options);  // reads options.retry

  // `status` failed `attempt`. Takes a budget token when the verdict is kRetry.
  Decision Decide(const Attempt& attempt, const Status& status, Clock::time_point now);
  // Counts a first attempt (the budget's request rate).
  void OnRequest(Clock::time_point now) { budget_->OnRequest(now); }
  uint64_t budget_exhausted() const { return budget_->exhausted(); }
  // The budget has no retry left: hedges (extra load) stop too until it recovers.
  bool BudgetSpent(Clock::time_point now) const { return budget_->Exhausted(now); }
  bool Retryable(StatusCode code) const;
  int max_attempts() const { return max_attempts_; }
  // Safe to run twice: marked by the caller or listed in idempotent_methods.
  bool Idempotent(const google::protobuf::MethodDescriptor* method, bool marked) const;
  // The per-try timeout of `method` (method_per_try_timeout_ms, else per_try_timeout_ms); 0: none.
  std::chrono::milliseconds PerTryTimeout(const google::protobuf::MethodDescriptor* method) const;

 private:
  RetryPolicy() = default;

  int max_attempts_ = 1;
  std::vector<StatusCode> codes_;
  std::vector<std::string> idempotent_methods_;  // "/pkg.Service/Method"
  int per_try_timeout_ms_ = 0;
  std::vector<std::pair<std::string, int>> method_per_try_;  // "pkg.Service.Method" (full name), ms
  int backoff_base_ms_ = 0;
  int backoff_max_ms_ = 0;
  std::shared_ptr<RetryBudget> budget_;  // shared: the policy is a value, the budget is not
};

}  // namespace krpc::impl
