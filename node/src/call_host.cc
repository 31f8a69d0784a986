#include "call_host.h"

#include "connection_life.h"

#include <boost/asio/steady_timer.hpp>

#include "krpc/impl/deadline.h"
#include "krpc/impl/thread_check.h"
#include "krpc/net/tls_context.h"
#include "authz_policy.h"
#include "overload_check.h"
#include "server_call.h"

namespace krpc::node {
namespace asio = boost::asio;

CallHost::CallHost(std::shared_ptr<ServerShared> shared, asio::io_context::executor_type executor, uint64_t id,
                   Protocol protocol)
    : shared_(std::move(shared)), executor_(executor), loop_(&executor_.context()), id_(id), protocol_(protocol) {}

std::string PeerAddress(const asio::ip::tcp::socket& socket) {
  boost::system::error_code ec;
  const auto remote = socket.remote_endpoint(ec);
  return ec ? "unknown" : remote.address().to_string() + ":" + std::to_string(remote.port());
}

void CallHost::SetPeer(net::Stream& stream) {
  peer_ = PeerAddress(stream.socket());
  if (stream.tls()) identity_ = net::PeerIdentityOf(stream.ssl());
}

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
  call->timed = shared_->options.early_refusal;
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

void CallHost::Track(ServerCall* call) {
  call->tracked = true;
  unfinished_.emplace(call->call_id(), call);
}

void CallHost::TrackUnfinished(ServerCall* call) {
  if (!call->tracked) Track(call);
}

ServerCall* CallHost::FindUnfinished(uint64_t call_id) const {
  auto it = unfinished_.find(call_id);
  return it == unfinished_.end() ? nullptr : it->second;
}

void CallHost::Dispatch(ServerCall* call) {
  if (shared_->interceptor) {
    Track(call);
    RunIntercepted(call);
  } else if (shared_->handler_pool) {
    Track(call);
    QueueForHandler(call);
  } else {
    // Most handlers finish inline; only a call still running afterwards enters the table
    // of unfinished calls (so cancel and close can reach it), keeping the fast path map-free.
    inline_call_ = call;
    call->Invoke();
    if (inline_call_ == call) {
      inline_call_ = nullptr;
      Track(call);
    }
  }
}

// Runs the call on the handler pool; the deadline is checked again when a thread takes it.
void CallHost::QueueForHandler(ServerCall* call) {
  asio::post(*shared_->handler_pool, [call] { call->InvokeUnlessExpired("while queued for a handler thread"); });
}

void CallHost::RunIntercepted(ServerCall* call) {
  const Interception i = shared_->interceptor->Intercept(call->entry().service_name, call->entry().method_name);
  if (i.hang) {
    call->hung = true;  // never answered; the client's deadline ends it, Close() frees it
    return;
  }
  if (i.delay.count() <= 0) return RunAfterInterception(call, i.status);
  call->delay_timer = std::make_shared<asio::steady_timer>(executor_, i.delay);
  call->delay_timer->async_wait([self = HostRef(), call, status = i.status](const boost::system::error_code& ec) {
    call->delay_timer.reset();
    if (ec == asio::error::operation_aborted) {  // the connection closed during the delay
      call->SetStatus(StatusCode::kCancelled, "connection closed");
      self->Complete(call);
      return;
    }
    self->RunAfterInterception(call, status);
  });
}

// The interceptor's verdict: its error as the answer, or the handler (on the pool or here).
void CallHost::RunAfterInterception(ServerCall* call, const Status& status) {
  if (!status.ok()) {
    call->SetStatus(status.code(), status.message());
    call->Run();
  } else if (shared_->handler_pool) {
    QueueForHandler(call);
  } else {
    call->InvokeUnlessExpired("during an injected delay");
  }
}

void CallHost::CancelCall(ServerCall* call) {
  // The client no longer waits: the call stops counting against max_inflight and the drain,
  // even if its handler keeps running. A hung call (fault injection) is answered now.
  ReleaseSlot(call, Clock::now());
  const bool hung = call->hung;
  // The handler's cancel callback may run `done` right here, which completes and frees the
  // call: nothing touches it after this unless it is hung (its handler never ran).
  call->Cancel();
  if (hung) {
    call->SetStatus(StatusCode::kCancelled, "call cancelled by the client");
    Complete(call);
  }
}

void CallHost::CancelUnfinished() {
  std::vector<ServerCall*> hung;
  for (auto& [id, call] : unfinished_) {
    call->Cancel();
    if (call->hung) hung.push_back(call);
    if (call->delay_timer) call->delay_timer->cancel();  // completes it (see RunIntercepted)
  }
  for (auto* call : hung) {
    call->SetStatus(StatusCode::kCancelled, "connection closed");
    Complete(call);
  }
}

void CallHost::ReleaseSlot(ServerCall* call, Clock::time_point now) {
  if (call->slot_released) return;
  call->slot_released = true;
  // The limits learn from calls whose handler ran to its reply (not from refusals or cancels).
  const bool measured = !call->not_executed && !call->IsCanceled();
  const auto latency = now - call->arrival();
  if (call->node_slot) shared_->node_limit->Release(latency, now, measured);
  if (call->method_slot) call->entry().load->limit->Release(latency, now, measured);
  shared_->CallFinished();
}

void CallHost::Finish(ServerCall* call) {
  KRPC_ASSERT_IN_LOOP(InLoop() || !shared_->LoopsRunning());
  if (call == inline_call_) inline_call_ = nullptr;
  if (call->tracked) unfinished_.erase(call->call_id());
  const auto now = Clock::now();
  shared_->observer->OnCallFinished(call->entry().observer_cookie[static_cast<size_t>(protocol_)],
                                    call->status().code(), now - call->arrival());
  // Handler time for early refusal; a cancelled call ended when its client gave up (counting it
  // would refuse every call whose budget is that per-try timeout).
  if (call->started() != Clock::time_point{} && !call->not_executed && !call->IsCanceled()) {
    call->entry().load->service_time.Add(now - call->started());
  }
  ReleaseSlot(call, now);
  --inflight_;
  call->Release();
}

void CallHost::CompleteFromAnyThread(ServerCall* call) {
  // Complete() may drop the last reference to this connection.
  auto keep = HostRef();
  if (InLoop()) {
    Complete(call);
    return;
  }
  if (PostIfRunning([keep, call] { keep->Complete(call); })) return;
  // The loops are stopped (a drain that timed out): late completions from handler threads
  // are serialized by one lock instead of the connection's thread.
  std::lock_guard lock(shared_->late_mu);
  Complete(call);
}

void CallHost::ForceClose(std::string reason) {
  Post([host = HostRef(), reason = std::move(reason)] { host->Life().Close(reason); });
}

void CallHost::HandlerFailed(const MethodEntry& entry, std::string_view what) {
  shared_->handler_exceptions.fetch_add(1, std::memory_order_relaxed);
  shared_->error_log.Error("handler of {} threw: {}; answered INTERNAL", entry.full_name, what);
}

}  // namespace krpc::node
