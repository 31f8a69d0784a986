// CallAttempts' retry decisions: whether a failed attempt is retried by the policy or
// transparently, the pushback a refusal carries, and the wait before a retry.
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <charconv>

#include "call_attempts.h"
#include "krpc/codec/frame.h"
#include "krpc/impl/io_pool.h"
#include "runtime_access.h"

namespace krpc::impl {
namespace asio = boost::asio;

// A refusal's retry pushback (krpc-retry-pushback-ms, or gRPC's grpc-retry-pushback-ms): a
// delay in ms, or -1 (any negative or unreadable value) for "do not retry"; nullopt: none.
std::optional<int64_t> RetryPushback(const std::vector<std::pair<std::string, std::string>>& metadata) {
  for (const auto& [k, v] : metadata) {
    if (k != codec::kRetryPushbackKey && k != "grpc-retry-pushback-ms") continue;
    int64_t ms = -1;
    const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), ms);
    return ec == std::errc() && end == v.data() + v.size() && ms >= 0 ? ms : -1;
  }
  return std::nullopt;
}

bool CallAttempts::ShouldRetry(CallData* call, const Status& status, bool not_executed, bool per_try_timeout,
                                CallData::Clock::time_point now, std::chrono::milliseconds* backoff) {
  if (status.ok() || shut_down() || call->canceled) return false;
  if (!retry_.Retryable(status.code()) && !per_try_timeout) return false;
  // Overload is an endpoint's state: RESOURCE_EXHAUSTED is retried only on another endpoint.
  if (status.code() == StatusCode::kResourceExhausted) {
    auto set = routes_->For(call->method).endpoints();
    if (!set || set->subchannels.size() <= static_cast<size_t>(call->n_tried)) return false;
  }
  const auto d = retry_.Decide({call->method, call->policy_attempts(), call->idempotent, not_executed, per_try_timeout, call->deadline},
                               status, now);
  if (d.verdict == RetryPolicy::Verdict::kBudgetExhausted && observer_) {
    observer_->OnRetryBudgetExhausted(call->method);
  }
  *backoff = d.backoff;
  return d.verdict == RetryPolicy::Verdict::kRetry;
}

bool CallAttempts::TransparentRetry(const CallData* call, const Status& status, bool not_executed, bool overload,
                                     CallData::Clock::time_point now) const {
  // UNAVAILABLE and provably not run: never sent (connect failed, the connection was closing,
  // the endpoint was retiring or in back-off) or refused unexecuted by a draining node. Other
  // unexecuted refusals (bad request, permission, overload, deadline) are answers, not accidents
  // of timing, and stay with the retry policy.
  // An overload refusal (RESOURCE_EXHAUSTED, not executed) goes elsewhere at once only while
  // another endpoint has room; otherwise the retry policy (budget, backoff, pushback) decides.
  const bool refused = overload && status.code() == StatusCode::kResourceExhausted;
  return not_executed && (status.code() == StatusCode::kUnavailable || (refused && AnotherEndpointHasRoom(call, now))) &&
         call->transparent < CallData::kMaxTransparent && !call->canceled && now < call->deadline && !shut_down();
}

bool CallAttempts::AnotherEndpointHasRoom(const CallData* call, CallData::Clock::time_point now) const {
  auto set = routes_->For(call->method).endpoints();
  if (!set) return false;
  const auto* tried_end = call->tried + call->n_tried;
  for (const auto& sub : set->subchannels) {
    const EndpointLoad* load = &sub->load();
    if (std::find(call->tried, tried_end, load) == tried_end && load->healthy() && !load->pushed_back(now)) return true;
  }
  return false;
}

void CallAttempts::CountRetry(const CallData* call, bool transparent) {
  if (transparent) {
    transparent_retries_.fetch_add(1, std::memory_order_relaxed);
    if (observer_) observer_->OnTransparentRetry(call->method);
    return;
  }
  retries_.fetch_add(1, std::memory_order_relaxed);
  if (observer_) observer_->OnRetry(call->method);
}

void CallAttempts::RetryAfter(CallData* call, std::chrono::milliseconds backoff) {
  if (backoff.count() == 0) {
    StartAttempt(call, AttemptKind::kRetry);
    return;
  }
  auto token = call->Park(CallState::kBackoff);
  if (!token) {
    FinishCall(call, Status(StatusCode::kCancelled, "call cancelled by the client"));
    return;
  }
  auto timer = std::make_shared<asio::steady_timer>(RuntimeAccess::Io(*config_->runtime).ForTimer(), backoff);
  timer->async_wait([self = shared_from_this(), timer, token](const boost::system::error_code&) {
    if (auto* c = CallToken::Resume(token, CallState::kBackoff)) self->StartAttempt(c, AttemptKind::kRetry);
  });
}

}  // namespace krpc::impl
