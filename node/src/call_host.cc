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
  // A stream's life is its client's, not the node's latency: it teaches nothing either.
  const bool measured = !call->not_executed && !call->IsCanceled() && !call->entry().streaming();
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
  if (call->started() != Clock::time_point{} && !call->not_executed && !call->IsCanceled() &&
      !call->entry().streaming()) {
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

Status CallHost::SendStreamMessage(uint64_t, std::string_view) {
  return {StatusCode::kCancelled, "this protocol carries no streams"};
}

void CallHost::ForceClose(std::string reason) {
  Post([host = HostRef(), reason = std::move(reason)] { host->Life().Close(reason); });
}

void CallHost::HandlerFailed(const MethodEntry& entry, std::string_view what) {
  shared_->handler_exceptions.fetch_add(1, std::memory_order_relaxed);
  shared_->error_log.Error("handler of {} threw: {}; answered INTERNAL", entry.full_name, what);
}

}  // namespace krpc::node
