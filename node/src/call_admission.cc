// CallHost's admission of calls: method, authorization, drain, deadline and the concurrency
// limits, answered in the connection's protocol when a call is refused.
#include "authz_policy.h"
#include "call_host.h"
#include "krpc/impl/deadline.h"
#include "overload_check.h"
#include "server_call.h"

namespace krpc::node {

ServerCall* CallHost::Admit(uint64_t call_id, std::string_view method, uint64_t timeout_us, Clock::time_point arrival,
                            bool refusing) {
  shared_->calls_total.fetch_add(1, std::memory_order_relaxed);
  const MethodEntry* entry = shared_->methods.Find(method);
  const size_t p = static_cast<size_t>(protocol_);
  if (entry == nullptr) {
    void* cookie = shared_->unknown_method_cookie[p];
    shared_->observer->OnCallStarted(cookie);
    shared_->observer->OnCallFinished(cookie, StatusCode::kUnimplemented, Clock::now() - arrival);
    Reject(call_id, StatusCode::kUnimplemented, "unknown method '" + std::string(method) + "'");
    return nullptr;
  }
  shared_->observer->OnCallStarted(entry->observer_cookie[p]);
  auto reject = [&](StatusCode code, std::string msg) -> ServerCall* {
    shared_->observer->OnCallFinished(entry->observer_cookie[p], code, Clock::now() - arrival);
    Reject(call_id, code, std::move(msg));
    return nullptr;
  };
  if (!AuthzPolicy::Allows(*entry, identity_)) {
    shared_->authz_denied.fetch_add(1, std::memory_order_relaxed);
    shared_->observer->OnAuthzDenied(entry->service_name, entry->method_name);
    const std::string who = identity_.authenticated ? "'" + std::string(identity_.primary()) + "'" : "an unauthenticated peer";
    shared_->error_log.Warn("denied {} from {} ({}): not in authz_allow", entry->full_name, who, peer_);
    return reject(StatusCode::kPermissionDenied, who + " may not call " + entry->full_name);
  }
  if (refusing) {
    return reject(StatusCode::kUnavailable, "server is draining");
  }
  const auto now = Clock::now();
  const auto deadline = impl::SaturatingDeadline(arrival, timeout_us);
  if (deadline <= now) {
    return reject(StatusCode::kDeadlineExceeded, "deadline expired before the handler ran");
  }
  if (shared_->inflight.fetch_add(1, std::memory_order_acq_rel) >= shared_->options.max_inflight) {
    shared_->inflight.fetch_sub(1, std::memory_order_acq_rel);
    RefuseOverloaded(*entry, call_id, arrival, MaxInflightRefusal(*shared_));
    return nullptr;
  }
  OverloadVerdict v = CheckOverload(*shared_, *entry, deadline, now);
  if (v.kind == OverloadVerdict::kOverloaded) {
    shared_->CallFinished();  // the max_inflight slot
    RefuseOverloaded(*entry, call_id, arrival, std::move(v.why));
    return nullptr;
  }
  if (v.kind == OverloadVerdict::kTooLate) {
    shared_->CallFinished();  // the max_inflight slot
    return reject(StatusCode::kDeadlineExceeded, std::move(v.why));
  }
  ++inflight_;
  auto* call = new ServerCall(HostRef(), entry, call_id, arrival, timeout_us);
  call->node_slot = v.node_slot;
  call->method_slot = v.method_slot;
  call->timed = shared_->options.early_refusal && !entry->streaming();
  return call;
}

bool CallHost::RefuseEarly(uint64_t call_id, std::string_view method, Clock::time_point arrival) {
  const MethodEntry* entry = shared_->methods.Find(method);
  if (entry == nullptr || !AuthzPolicy::Allows(*entry, identity_)) {
    Admit(call_id, method, 0, arrival, false);  // refuses it, as it will every time
    return true;
  }
  std::string why = AtLimit(*shared_, *entry);
  if (why.empty()) return false;
  shared_->calls_total.fetch_add(1, std::memory_order_relaxed);
  shared_->observer->OnCallStarted(entry->observer_cookie[static_cast<size_t>(protocol_)]);
  RefuseOverloaded(*entry, call_id, arrival, std::move(why));
  return true;
}

void CallHost::RefuseOverloaded(const MethodEntry& entry, uint64_t call_id, Clock::time_point arrival, std::string why) {
  shared_->overload_refused.fetch_add(1, std::memory_order_relaxed);
  shared_->observer->OnCallFinished(entry.observer_cookie[static_cast<size_t>(protocol_)], StatusCode::kResourceExhausted,
                                    Clock::now() - arrival);
  Reject(call_id, StatusCode::kResourceExhausted, std::move(why), shared_->options.overload_pushback_ms);
}

}  // namespace krpc::node
