#include "retry_policy.h"

#include <algorithm>
#include <charconv>
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
  p.per_try_timeout_ms_ = r.per_try_timeout_ms;
  for (std::string_view rest = r.method_per_try_timeout_ms; !rest.empty();) {
    const auto one = rest.substr(0, rest.find(','));
    rest.remove_prefix(std::min(rest.size(), one.size() + 1));
    const auto eq = one.find('=');
    std::string_view name = one.substr(0, eq);
    if (!name.empty() && name.front() == '/') name.remove_prefix(1);
    const auto slash = name.find('/');
    int ms = -1;
    if (eq != std::string_view::npos) {
      const auto v = one.substr(eq + 1);
      auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), ms);
      if (ec != std::errc() || ptr != v.data() + v.size()) ms = -1;
    }
    if (slash == std::string_view::npos || slash == 0 || slash + 1 == name.size() || ms < 0 || ms > 3600000) {
      return Status(StatusCode::kInvalidArgument, "bad value for 'method_per_try_timeout_ms': '" + std::string(one) +
                                                      "' (expected /pkg.Service/Method=milliseconds)");
    }
    std::string full(name);
    full[slash] = '.';
    p.method_per_try_.emplace_back(std::move(full), ms);
  }
  return p;
}

bool RetryPolicy::Retryable(StatusCode code) const {
  return std::find(codes_.begin(), codes_.end(), code) != codes_.end();
}

bool RetryPolicy::Idempotent(const google::protobuf::MethodDescriptor* method, bool marked) const {
  if (marked || idempotent_methods_.empty() || method == nullptr) return marked;
  const std::string name = "/" + method->service()->full_name() + "/" + method->name();
  return std::find(idempotent_methods_.begin(), idempotent_methods_.end(), name) != idempotent_methods_.end();
}

std::chrono::milliseconds RetryPolicy::PerTryTimeout(const google::protobuf::MethodDescriptor* method) const {
  if (method != nullptr) {
    for (const auto& [name, ms] : method_per_try_) {
      if (name == method->full_name()) return std::chrono::milliseconds(ms);
    }
  }
  return std::chrono::milliseconds(per_try_timeout_ms_);
}

RetryPolicy::Decision RetryPolicy::Decide(const Attempt& a, const Status& status, Clock::time_point now) {
  Decision d;
  if (status.ok() || a.attempts >= max_attempts_) return d;
  if (!Retryable(status.code()) && !(a.per_try_timeout && status.code() == StatusCode::kDeadlineExceeded)) return d;
  // Only when the request provably did not run, or the method may safely run twice.
  if (!a.not_executed && !Idempotent(a.method, a.idempotent)) return d;
  static thread_local std::minstd_rand rng(std::random_device{}());
  const int64_t cap = std::min<int64_t>(backoff_max_ms_, int64_t{backoff_base_ms_} << std::min(a.attempts - 1, 20));
  d.backoff = std::chrono::milliseconds(cap > 0 ? static_cast<int64_t>(rng() % static_cast<uint64_t>(cap + 1)) : 0);
  if (a.deadline != Clock::time_point::max() && now + d.backoff >= a.deadline) return d;
  d.verdict = budget_->TryRetry(now) ? Verdict::kRetry : Verdict::kBudgetExhausted;
  return d;
}

}  // namespace krpc::impl
