// RetryPolicy: whether a failed attempt is tried again, and after how long. A retry needs a
// retryable code (retry_codes; DEADLINE_EXCEEDED never), attempts left, a call that is not
// cancelled, proof that the request did not run (not_executed) or a method safe to run twice
// (the call's idempotent flag or idempotent_methods), a backoff that ends before the deadline
// (full jitter over base * 2^(attempt-1), capped), and a token from the channel's retry
// budget. The hedging to come (issue 12) is the next attempt policy beside this one.
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
  bool Retryable(StatusCode code) const;

 private:
  RetryPolicy() = default;
  bool Idempotent(const Attempt& attempt) const;

  int max_attempts_ = 1;
  std::vector<StatusCode> codes_;
  std::vector<std::string> idempotent_methods_;  // "/pkg.Service/Method"
  int backoff_base_ms_ = 0;
  int backoff_max_ms_ = 0;
  std::shared_ptr<RetryBudget> budget_;  // shared: the policy is a value, the budget is not
};

}  // namespace krpc::impl
