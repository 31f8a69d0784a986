#include "server_connection.h"

#include "krpc/impl/deadline.h"
#include "krpc/impl/thread_check.h"
#include "server_call.h"

namespace krpc::node {
namespace asio = boost::asio;
using codec::FrameType;

ServerConnection::ServerConnection(asio::ip::tcp::socket socket, std::shared_ptr<ServerShared> shared, uint64_t id)
    : FramedConnection(std::move(socket), shared->limits, shared->frame_budget, shared),
      shared_(std::move(shared)),
      executor_(*stream().socket().get_executor().target<asio::io_context::executor_type>()),
      loop_(&executor_.context()),
      id_(id),
      idle_timer_(executor_) {
  boost::system::error_code ec;
  auto remote = stream().socket().remote_endpoint(ec);
  peer_ = ec ? "unknown" : remote.address().to_string() + ":" + std::to_string(remote.port());
  stream().Configure();
}

ServerConnection::~ServerConnection() = default;

void ServerConnection::Start(bool over_limit) {
  shared_->observer->OnConnectionOpened();
  if (over_limit) {
    SendGoaway(StatusCode::kResourceExhausted,
               "connection limit reached (max_connections=" + std::to_string(shared_->options.max_connections) + ")");
    CloseAfterFlush();
    return;
  }
  ArmIdleTimer();
  StartReading();
}

void ServerConnection::Goaway() {
  Post([self = self()] {
    if (self->closed_ || self->goaway_sent_) return;
    self->SendGoaway(StatusCode::kOk, "server is draining");
    self->Flush();
  });
}

void ServerConnection::ForceClose(std::string reason) {
  Post([self = self(), reason = std::move(reason)] { self->Close(reason); });
}

void ServerConnection::OnReadFailed(const boost::system::error_code& ec) {
  Close(ec == asio::error::eof ? "peer closed" : ec.message());
}

void ServerConnection::OnBytesRead(size_t n) {
  shared_->observer->OnBytes(n, 0);
  batch_time_ = last_recv();
}

void ServerConnection::OnBytesWritten(size_t n) { shared_->observer->OnBytes(0, n); }

void ServerConnection::OnOutputDrained() {
  if (closing_) Linger();
}

bool ServerConnection::OnFrame(const codec::FrameView& frame) {
  switch (frame.prefix.type) {
    case FrameType::kRequest:
      HandleRequest(frame);
      return !closing_;
    case FrameType::kPing:
    case FrameType::kPong:
      return true;  // answered (PING) or ignored (PONG) by FramedConnection
    case FrameType::kCancel: {
      wire::CancelHeader cancel;
      if (!cancel.ParseFromArray(frame.header.data(), static_cast<int>(frame.header.size()))) {
        ProtocolError("malformed_header", "unparsable CANCEL header");
        return false;
      }
      if (auto it = unfinished_.find(cancel.call_id()); it != unfinished_.end()) CancelCall(it->second);
      return true;
    }
    case FrameType::kGoaway:
      return true;  // a client's GOAWAY only says it sends no more calls
    case FrameType::kResponse:
      ProtocolError("unexpected_frame", "RESPONSE frame sent to a server");
      return false;
  }
  return true;
}

void ServerConnection::HandleRequest(const codec::FrameView& frame) {
  auto& h = scratch_header_;
  if (!h.ParseFromArray(frame.header.data(), static_cast<int>(frame.header.size()))) {
    ProtocolError("malformed_header", "unparsable REQUEST header");
    return;
  }
  const uint64_t call_id = h.call_id();
  max_call_id_ = std::max(max_call_id_, call_id);
  shared_->calls_total.fetch_add(1, std::memory_order_relaxed);
  const MethodEntry* entry = shared_->methods.Find(h.method());
  if (entry == nullptr) {
    shared_->observer->OnCallStarted(shared_->unknown_method_cookie);
    shared_->observer->OnCallFinished(shared_->unknown_method_cookie, StatusCode::kUnimplemented,
                                      Clock::now() - batch_time_);
    ReplyError(call_id, StatusCode::kUnimplemented, "unknown method '" + h.method() + "'", true);
    return;
  }
  shared_->observer->OnCallStarted(entry->observer_cookie);
  auto reject = [&](StatusCode code, std::string msg) {
    shared_->observer->OnCallFinished(entry->observer_cookie, code, Clock::now() - batch_time_);
    ReplyError(call_id, code, std::move(msg), true);
  };
  if (goaway_sent_ || shared_->draining.load(std::memory_order_relaxed)) {
    return reject(StatusCode::kUnavailable, "server is draining");
  }
  if (impl::SaturatingDeadline(batch_time_, h.timeout_us()) <= Clock::now()) {
    return reject(StatusCode::kDeadlineExceeded, "deadline expired before the handler ran");
  }
  if (shared_->inflight.fetch_add(1, std::memory_order_acq_rel) >= shared_->options.max_inflight) {
    shared_->inflight.fetch_sub(1, std::memory_order_acq_rel);
    return reject(StatusCode::kResourceExhausted,
                  "too many calls in flight (max_inflight=" + std::to_string(shared_->options.max_inflight) + ")");
  }
  auto* call = new ServerCall(self(), entry, call_id, batch_time_, h.timeout_us());
  ++inflight_;
  if (!h.metadata().empty()) call->mutable_metadata().swap(*h.mutable_metadata());
  if (!call->request()->ParseFromArray(frame.body.data(), static_cast<int>(frame.body.size()))) {
    call->SetStatus(StatusCode::kInvalidArgument,
                    "cannot parse request body as " + entry->request_prototype->GetTypeName());
    call->not_executed = true;
    Complete(call);
    return;
  }
  Dispatch(call);
}

void ServerConnection::Track(ServerCall* call) {
  call->tracked = true;
  unfinished_.emplace(call->call_id(), call);
}

void ServerConnection::Dispatch(ServerCall* call) {
  if (shared_->interceptor) {
    Track(call);
    RunIntercepted(call);
  } else if (shared_->handler_pool) {
    Track(call);
    QueueForHandler(call);
  } else {
    // Most handlers finish inline; only a call still running afterwards enters the table
    // of unfinished calls (so CANCEL and close can reach it), keeping the fast path map-free.
    inline_call_ = call;
    call->Invoke();
    if (inline_call_ == call) {
      inline_call_ = nullptr;
      Track(call);
    }
  }
}

// Runs the call on the handler pool; the deadline is checked again when a thread takes it.
void ServerConnection::QueueForHandler(ServerCall* call) {
  asio::post(*shared_->handler_pool, [call] { call->InvokeUnlessExpired("while queued for a handler thread"); });
}

void ServerConnection::RunIntercepted(ServerCall* call) {
  const Interception i = shared_->interceptor->Intercept(call->entry().service_name, call->entry().method_name);
  if (i.hang) {
    call->hung = true;  // never answered; the client's deadline ends it, Close() frees it
    return;
  }
  auto act = [this, call, status = i.status] {
    if (!status.ok()) {
      call->SetStatus(status.code(), status.message());
      call->Run();
    } else if (shared_->handler_pool) {
      QueueForHandler(call);
    } else {
      call->InvokeUnlessExpired("during an injected delay");
    }
  };
  if (i.delay.count() <= 0) {
    act();
    return;
  }
  call->delay_timer = std::make_shared<asio::steady_timer>(executor_, i.delay);
  call->delay_timer->async_wait([self = self(), call, act](const boost::system::error_code& ec) {
    call->delay_timer.reset();
    if (ec == asio::error::operation_aborted) {  // the connection closed during the delay
      call->SetStatus(StatusCode::kCancelled, "connection closed");
      self->Complete(call);
      return;
    }
    act();
  });
}

void ServerConnection::CancelCall(ServerCall* call) {
  // The client no longer waits: the call stops counting against max_inflight and the drain,
  // even if its handler keeps running. A hung call (fault injection) is answered now.
  ReleaseSlot(call);
  const bool hung = call->hung;
  // The handler's cancel callback may run `done` right here, which completes and frees the
  // call: nothing touches it after this unless it is hung (its handler never ran).
  call->Cancel();
  if (hung) {
    call->SetStatus(StatusCode::kCancelled, "call cancelled by the client");
    Complete(call);
  }
}

void ServerConnection::ReleaseSlot(ServerCall* call) {
  if (call->slot_released) return;
  call->slot_released = true;
  shared_->CallFinished();
}

void ServerConnection::Complete(ServerCall* call) {
  KRPC_ASSERT_IN_LOOP(InLoop() || !shared_->LoopsRunning());
  if (call == inline_call_) inline_call_ = nullptr;
  if (call->tracked) unfinished_.erase(call->call_id());
  const auto& entry = call->entry();
  const Status& status = call->status();
  if (!closed_) {
    wire::ResponseHeader h;
    h.set_call_id(call->call_id());
    const size_t body_size = status.ok() ? call->response()->ByteSizeLong() : 0;
    if (body_size > shared_->limits.max_body_bytes) {
      call->SetStatus(StatusCode::kResourceExhausted,
                      "response of " + std::to_string(body_size) + " bytes exceeds max_body_bytes=" +
                          std::to_string(shared_->limits.max_body_bytes));
    }
    if (call->status().ok()) {
      codec::AppendFrame(out(), FrameType::kResponse, h, call->response());
    } else {
      h.set_status(static_cast<int32_t>(call->status().code()));
      h.set_message(call->status().message());
      h.set_not_executed(call->not_executed);
      codec::AppendFrame(out(), FrameType::kResponse, h, nullptr);
    }
    if (!in_read_batch()) Flush();
  }
  shared_->observer->OnCallFinished(entry.observer_cookie, call->status().code(), Clock::now() - call->arrival());
  ReleaseSlot(call);
  --inflight_;
  call->Release();
}

void ServerConnection::CompleteFromAnyThread(ServerCall* call) {
  // Complete() may drop the last reference to this connection.
  auto keep = self();
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

void ServerConnection::HandlerFailed(const MethodEntry& entry, std::string_view what) {
  shared_->handler_exceptions.fetch_add(1, std::memory_order_relaxed);
  uint64_t suppressed = 0;
  if (shared_->error_log_limit.Allow(&suppressed)) {
    shared_->log->error("handler of {} threw: {}; answered INTERNAL{}", entry.full_name, what,
                        suppressed ? fmt::format(" [{} similar messages suppressed]", suppressed) : "");
  }
}

void ServerConnection::ReplyError(uint64_t call_id, StatusCode code, std::string message, bool not_executed) {
  wire::ResponseHeader h;
  h.set_call_id(call_id);
  h.set_status(static_cast<int32_t>(code));
  h.set_message(std::move(message));
  h.set_not_executed(not_executed);
  codec::AppendFrame(out(), FrameType::kResponse, h, nullptr);
}

void ServerConnection::SendGoaway(StatusCode code, std::string message) {
  wire::GoawayHeader g;
  g.set_last_call_id(max_call_id_);
  g.set_status(static_cast<int32_t>(code));
  g.set_message(std::move(message));
  codec::AppendFrame(out(), FrameType::kGoaway, g, nullptr);
  goaway_sent_ = true;
}

}  // namespace krpc::node
