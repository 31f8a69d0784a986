#include "retry_policy.h"

#include <algorithm>
#include <random>

namespace krpc::impl {

StatusOr<RetryPolicy> RetryPolicy::FromOptions(const ChannelOptions& o) {
  RetryPolicy p;
  const RetryOptions& r = o.retry;
  p.max_attempts_ = r.max_attempts;
  p.backoff_base_ms_ = r.backoff_base_ms;
  p.backoff_max_ms_ = r.backoff_max_ms;
  for (std::string_view rest = r.codes; !rest.empty();) {
    const auto one = rest.substr(0, rest.find(','));
    rest.remove_prefix(std::min(rest.size(), one.size() + 1));
    StatusCode c;
    if (!ParseStatusCode(one, &c)) {
      return Status(StatusCode::kInvalidArgument, "bad value for 'retry_codes': '" + std::string(one) + "'");
    }
    if (c != StatusCode::kDeadlineExceeded) p.codes_.push_back(c);
  }
  for (std::string_view rest = r.idempotent_methods; !rest.empty();) {
    const auto one = rest.substr(0, rest.find(','));
    rest.remove_prefix(std::min(rest.size(), one.size() + 1));
    p.idempotent_methods_.emplace_back(one);
  }
  p.budget_ = std::make_shared<RetryBudget>(r.budget_ratio, r.budget_min_per_second);
  return p;
}

bool RetryPolicy::Retryable(StatusCode code) const {
  return std::find(codes_.begin(), codes_.end(), code) != codes_.end();
}

bool RetryPolicy::Idempotent(const Attempt& a) const {
  if (a.idempotent || idempotent_methods_.empty()) return a.idempotent;
  const std::string name = "/" + a.method->service()->full_name() + "/" + a.method->name();
  return std::find(idempotent_methods_.begin(), idempotent_methods_.end(), name) != idempotent_methods_.end();
}

RetryPolicy::Decision RetryPolicy::Decide(const Attempt& a, const Status& status, Clock::time_point now) {
  Decision d;
  if (status.ok() || a.attempts >= max_attempts_ || !Retryable(status.code())) return d;
  // Only when the request provably did not run, or the method may safely run twice.
  if (!a.not_executed && !Idempotent(a)) return d;
  static thread_local std::minstd_rand rng(std::random_device{}());
  const int64_t cap = std::min<int64_t>(backoff_max_ms_, int64_t{backoff_base_ms_} << std::min(a.attempts - 1, 20));
  d.backoff = std::chrono::milliseconds(cap > 0 ? static_cast<int64_t>(rng() % static_cast<uint64_t>(cap + 1)) : 0);
  if (a.deadline != Clock::time_point::max() && now + d.backoff >= a.deadline) return d;
  d.verdict = budget_->TryRetry(now) ? Verdict::kRetry : Verdict::kBudgetExhausted;
  return d;
}

}  // namespace krpc::impl
