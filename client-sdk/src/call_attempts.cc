#include "call_attempts.h"

#include <boost/asio/steady_timer.hpp>

#include <charconv>
#include <optional>

#include "client_stream_core.h"
#include "krpc/codec/frame.h"
#include "krpc/impl/deadline.h"
#include "krpc/impl/io_pool.h"
#include "runtime_access.h"

namespace krpc::impl {
namespace asio = boost::asio;

namespace {
// The server closes a connection whose request header exceeds 64 KiB, failing every call on
// it; too much metadata fails only this call, here, before it is sent anywhere.
Status CheckMetadataSize(const CallData& call) {
  size_t bytes = 64 + call.method->full_name().size();  // call id, timeout, method, framing
  for (const auto& [k, v] : call.metadata) bytes += k.size() + v.size() + 12;
  if (bytes <= codec::kMaxHeaderBytes) return Status::Ok();
  return Status(StatusCode::kResourceExhausted, "request metadata of about " + std::to_string(bytes) +
                                                    " bytes exceeds the 64 KiB header limit");
}
}  // namespace

CallAttempts::CallAttempts(std::shared_ptr<const RouteConfig> config, std::shared_ptr<RouteTable> routes,
                           RetryPolicy retry, std::shared_ptr<ClientObserver> observer, std::string target)
    : config_(std::move(config)),
      routes_(std::move(routes)),
      retry_(std::move(retry)),
      hedging_(config_->options.hedging),
      observer_(std::move(observer)),
      target_(std::move(target)) {}

void CallAttempts::AddStats(ChannelStats& s) const {
  s.calls = calls_.load();
  s.retries = retries_.load();
  s.transparent_retries = transparent_retries_.load();
  s.retry_budget_exhausted = retry_.budget_exhausted();
  s.per_try_timeouts = per_try_timeouts_.load();
  s.hedges = hedges_.load();
  s.hedges_won = hedges_won_.load();
  s.hedge_budget_exhausted = hedging_.budget_exhausted();
  s.pushbacks = pushbacks_.load();
}

void CallAttempts::Start(CallData* call) {
  calls_.fetch_add(1, std::memory_order_relaxed);
  retry_.OnRequest(call->start);
  if (shut_down()) return FinishCall(call, Status(StatusCode::kUnavailable, "channel is shut down"));
  if (Status s = CheckMetadataSize(*call); !s.ok()) return FinishCall(call, std::move(s));
  call->hedgeable = hedging_.enabled() && retry_.Idempotent(call->method, call->idempotent) && !call->stream;
  call->try_timeout = call->per_try_set ? call->per_try_timeout : retry_.PerTryTimeout(call->method);
  if (call->stream) call->try_timeout = std::chrono::milliseconds(0);  // a stream lasts as long as it needs
  if (call->hedgeable) hedging_.OnRequest(call->start);
  StartAttempt(call, AttemptKind::kFirst, call->start);  // clock reads are not free: one per call start
}

void CallAttempts::StartAttempt(CallData* call, AttemptKind kind, CallData::Clock::time_point now) {
  Route& route = routes_->For(call->method);
  if (!route.resolved()) {
    if (kind != AttemptKind::kHedge) route.WaitForFirstList(call);
    return;
  }
  const bool hedge = kind == AttemptKind::kHedge;
  const bool beside = hedge || kind == AttemptKind::kExtra;
  if (now == CallData::Clock::time_point{}) now = CallData::Clock::now();
  Attempt* a = nullptr;
  std::shared_ptr<Subchannel> sub;
  bool beside_others = false;
  bool may_hedge = false;
  {
    std::lock_guard lock(call->mu);
    if (beside && (call->decided || call->canceled)) return;
    if (hedge && call->hedges >= hedging_.max_hedges()) return;
    sub = route.Pick(call, now, /*repeat=*/!beside);
    if (sub) a = call->FreeSlot();
    if (!a) {
      if (beside) return;  // no other endpoint, or no slot: the attempts in flight carry on
      sub.reset();
    } else {
      beside_others = call->in_flight > 0;
      a->active = true;
      a->cancel = false;
      a->call_id = 0;
      a->transport.reset();
      a->hedge = hedge;
      ++call->in_flight;
      ++call->attempts;
      if (hedge) ++call->hedges;
      if (call->n_tried < static_cast<int>(std::size(call->tried))) call->tried[call->n_tried++] = &sub->load();
      may_hedge = call->hedgeable && call->hedges < hedging_.max_hedges() && call->policy_attempts() < retry_.max_attempts();
    }
  }
  if (!sub) {
    FinishCall(call, Status(StatusCode::kUnavailable,
                            "no providers known for " + (route.service().empty() ? target_ : route.service())));
    return;
  }
  a->subchannel = sub;
  a->start = now;
  a->deadline = call->try_timeout.count() > 0 ? std::min(call->deadline, impl::SaturatingDeadline(now, call->try_timeout))
                                              : call->deadline;
  a->hedge_at = CallData::Clock::time_point::max();
  if (may_hedge) {
    if (auto delay = hedging_.Delay(call->method, now)) a->hedge_at = now + *delay;
  }
  // Only one attempt at a time parses into the caller's response; one started beside others
  // parses into its own, moved into the caller's when the call finishes.
  if (beside_others) {
    if (!a->own_response || a->own_response->GetDescriptor() != call->response->GetDescriptor()) {
      a->own_response.reset(call->response->New());
    } else {
      a->own_response->Clear();
    }
    a->response = a->own_response.get();
  } else {
    a->response = call->response;
  }
  if (hedge) {
    hedges_.fetch_add(1, std::memory_order_relaxed);
    if (observer_) observer_->OnHedge(call->method);
  }
  sub->StartCall(a);
}

void CallAttempts::OnHedgeDue(Attempt* a) {
  CallData* call = a->call;
  {
    std::lock_guard lock(call->mu);
    if (call->decided || call->canceled || call->hedges >= hedging_.max_hedges() ||
        call->in_flight >= CallData::kMaxAttempts || call->policy_attempts() >= retry_.max_attempts()) {
      return;
    }
  }
  const auto now = CallData::Clock::now();
  // Retries are failing beyond the budget: the cluster is overloaded, and a hedge adds load.
  if (retry_.BudgetSpent(now) || !hedging_.TryHedge(now)) {
    if (observer_) observer_->OnHedgeBudgetExhausted(call->method);
    return;
  }
  StartAttempt(call, AttemptKind::kHedge);
}

void CallAttempts::OnAttemptDone(Attempt* a, Status status, bool not_executed) {
  CallData* call = a->call;
  // The subchannel read the clock when it counted this attempt's end (an `end` before the
  // attempt's start is a previous attempt's: this one never reached a subchannel).
  const auto now = a->subchannel && a->end >= a->start ? a->end : CallData::Clock::now();
  const bool per_try_timeout = status.code() == StatusCode::kDeadlineExceeded && a->deadline < call->deadline;
  std::string address;
  // A refusal's pushback: the endpoint has no room until then, and a retry waits for it (or,
  // when negative, none is made).
  std::optional<int64_t> pushback;
  if (!status.ok() && !a->response_metadata.empty()) pushback = RetryPushback(a->response_metadata);
  if (pushback && a->subchannel) {
    a->subchannel->load().set_pushback_until(now + std::chrono::milliseconds(std::max<int64_t>(*pushback, 0)));
    pushbacks_.fetch_add(1, std::memory_order_relaxed);
    if (observer_) observer_->OnPushback(call->method);
  }
  if (auto sub = std::move(a->subchannel)) address = sub->address();  // it counted the end already
  if (status.ok() && call->hedgeable) hedging_.Record(call->method, now - a->start, now);
  if (per_try_timeout) {
    per_try_timeouts_.fetch_add(1, std::memory_order_relaxed);
    if (observer_) observer_->OnPerTryTimeout(call->method);
  }
  enum class Next { kWait, kFinish, kRetry, kExtra } next = Next::kWait;
  bool transparent = false;
  std::chrono::milliseconds backoff{0};
  std::pair<std::shared_ptr<Transport>, uint64_t> cancels[CallData::kMaxAttempts];
  {
    std::lock_guard lock(call->mu);
    a->active = false;
    a->call_id = 0;
    a->transport.reset();
    --call->in_flight;
    if (!call->decided) {
      const bool retryable_failure = !status.ok() && (retry_.Retryable(status.code()) || per_try_timeout) &&
                                     status.code() != StatusCode::kCancelled;
      // The server said: do not retry; or a stream is committed (a message went out or came in).
      const bool no_retry = (pushback && *pushback < 0) || (call->stream && call->stream->committed());
      transparent = !no_retry && TransparentRetry(call, status, not_executed, pushback.has_value(), now);
      bool decide = status.ok() || no_retry || (!retryable_failure && !transparent);
      if (!decide) {
        const bool again = transparent || ShouldRetry(call, status, not_executed, per_try_timeout, now, &backoff);
        if (again && !transparent && pushback) backoff = std::max(backoff, std::chrono::milliseconds(*pushback));
        if (transparent) ++call->transparent;
        if (call->in_flight > 0) {
          // Others are still running and may answer; a retry goes out beside them now.
          call->outcome = status;
          if (!address.empty()) call->remote = address;
          if (again) next = Next::kExtra;
        } else if (again) {
          next = Next::kRetry;
        } else {
          decide = true;
        }
      }
      if (decide) {
        call->decided = true;
        call->outcome = std::move(status);
        call->response_metadata = std::move(a->response_metadata);
        if (!address.empty()) call->remote = address;
        if (call->outcome.ok()) {
          call->winner = a;
          call->hedge_won = a->hedge;
        }
        for (int i = 0; i < CallData::kMaxAttempts; ++i) {
          Attempt& other = call->slots[i];
          if (!other.active) continue;
          other.cancel = true;  // one not yet on a transport is refused there
          if (other.call_id != 0) cancels[i] = {other.transport.lock(), other.call_id};
        }
      }
    }
    if (call->decided && call->in_flight == 0) next = Next::kFinish;
  }
  for (auto& [transport, id] : cancels) {
    if (transport) transport->Cancel(id);
  }
  switch (next) {
    case Next::kWait:
      return;
    case Next::kFinish:
      FinishCall(call, call->outcome);
      return;
    case Next::kExtra:
      CountRetry(call, transparent);
      StartAttempt(call, AttemptKind::kExtra);
      return;
    case Next::kRetry:
      CountRetry(call, transparent);
      RetryAfter(call, backoff);
      return;
  }
}

void CallAttempts::FinishCall(CallData* call, Status status) {
  {
    // A cancel requested before completion wins: the call never reports OK (or another
    // status) while IsCanceled() says it was cancelled.
    std::lock_guard lock(call->mu);
    if (call->canceled && status.code() != StatusCode::kCancelled) {
      status = Status(StatusCode::kCancelled, "call cancelled by the client");
    }
    // Every attempt has ended: the winner's own response may move into the caller's.
    if (call->winner && call->winner->response != call->response) {
      call->response->GetReflection()->Swap(call->response, call->winner->response);
    }
  }
  if (call->hedge_won) hedges_won_.fetch_add(1, std::memory_order_relaxed);
  if (call->hedge_won && observer_) observer_->OnHedgeWon(call->method);
  auto keep = std::move(call->sink);  // this channel lives at least until the call is done
  if (observer_) {
    observer_->OnCallFinished(call->method, status.code(), CallData::Clock::now() - call->start,
                                    call->attempts);
  }
  call->Finish(std::move(status));
}

void CallAttempts::OnCanceledWhileParked(CallData* call) {
  FinishCall(call, Status(StatusCode::kCancelled, "call cancelled by the client"));
}

}  // namespace krpc::impl
