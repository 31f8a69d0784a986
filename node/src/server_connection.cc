#include "server_connection.h"

#include "krpc/impl/deadline.h"
#include "krpc/impl/thread_check.h"
#include "server_call.h"

namespace krpc::node {
namespace asio = boost::asio;
using codec::FrameType;

namespace {
// Often enough to kick idle peers and peers that take too long to finish a frame.
std::chrono::milliseconds TickOf(const ServerOptions& o) {
  return std::max(std::chrono::milliseconds(5), std::min(std::chrono::milliseconds(o.heartbeat_interval_ms / 2),
                                                         std::chrono::milliseconds(o.frame_timeout_ms / 2)));
}
}  // namespace

ServerConnection::ServerConnection(net::Stream io, std::shared_ptr<ServerShared> shared, uint64_t id)
    : FramedConnection(std::move(io), shared->limits, shared->frame_budget, shared),
      CallHost(shared, *stream().socket().get_executor().target<asio::io_context::executor_type>(), id,
               Protocol::kKrpc),
      life_(*this, shared_, executor_, {"krpc", TickOf(shared_->options), /*linger=*/true}) {
  SetPeer(stream());
  stream().Configure();
}

ServerConnection::~ServerConnection() = default;

void ServerConnection::Start(Refusal refusal) {
  life_.Start(id_, peer_);
  if (refusal != Refusal::kNone) {
    if (refusal == Refusal::kConnectionLimit) {
      SendGoaway(StatusCode::kResourceExhausted,
                 "connection limit reached (max_connections=" + std::to_string(shared_->options.max_connections) + ")");
      life_.CloseAfterFlush("connection limit");
    } else {
      SendGoaway(StatusCode::kUnavailable, "TLS required (tls_mode=strict)");
      life_.CloseAfterFlush("TLS required");
    }
    return;
  }
  StartReading();
}

// The GOAWAY is followed by a PING. The client answers frames in order and sends no new call
// once it has read the GOAWAY, so its PONG arrives behind every request it sent before: until
// then (or until it closes) the drain keeps this connection open, and a request that crossed
// the GOAWAY on the wire is answered UNAVAILABLE, not executed, instead of being destroyed by
// the close (a client retries that anywhere; it could not retry a write lost in a reset).
void ServerConnection::Goaway() {
  shared_->goaway_unacked.fetch_add(1, std::memory_order_acq_rel);  // before Shutdown can look
  Post([self = self()] {
    if (self->life_.closed() || self->goaway_sent_) {
      self->shared_->GoawayAcknowledged();  // closed, or closing after a refusal: nothing to wait for
      return;
    }
    self->SendGoaway(StatusCode::kOk, "server is draining");
    wire::PingHeader ping;
    ping.set_nonce(kDrainPingNonce);
    codec::AppendFrame(self->out(), FrameType::kPing, ping, nullptr);
    self->drain_ack_pending_ = true;
    self->Flush();
  });
}

void ServerConnection::OnReadFailed(const boost::system::error_code& ec) {
  life_.Close(ec == asio::error::eof ? "peer closed" : ec.message());
}

void ServerConnection::OnBytesRead(size_t n) {
  shared_->observer->OnBytes(n, 0);
  batch_time_ = last_recv();
}

void ServerConnection::OnBytesWritten(size_t n) { shared_->observer->OnBytes(0, n); }

void ServerConnection::OnOutputDrained() { life_.OutputDrained(); }

bool ServerConnection::OnFrame(const codec::FrameView& frame) {
  switch (frame.prefix.type) {
    case FrameType::kRequest:
      HandleRequest(frame);
      return life_.reading();
    case FrameType::kPing:
      return true;  // answered by FramedConnection
    case FrameType::kPong: {
      wire::PingHeader pong;
      if (!pong.ParseFromArray(frame.header.data(), static_cast<int>(frame.header.size()))) {
        life_.ProtocolError("malformed_header", "unparsable PONG header");
        return false;
      }
      if (pong.nonce() == kDrainPingNonce) GoawayAcknowledged();
      return true;
    }
    case FrameType::kCancel: {
      wire::CancelHeader cancel;
      if (!cancel.ParseFromArray(frame.header.data(), static_cast<int>(frame.header.size()))) {
        life_.ProtocolError("malformed_header", "unparsable CANCEL header");
        return false;
      }
      DropStream(cancel.call_id());
      if (auto* call = FindUnfinished(cancel.call_id())) CancelCall(call);
      return true;
    }
    case FrameType::kMessage:
      return HandleMessage(frame);
    case FrameType::kCredit:
      return HandleCredit(frame);
    case FrameType::kStreamAccept:
      life_.ProtocolError("unexpected_frame", "STREAM_ACCEPT frame sent to a server");
      return false;
    case FrameType::kGoaway:
      return true;  // a client's GOAWAY only says it sends no more calls
    case FrameType::kResponse:
      life_.ProtocolError("unexpected_frame", "RESPONSE frame sent to a server");
      return false;
  }
  return true;
}

void ServerConnection::HandleRequest(const codec::FrameView& frame) {
  auto& h = scratch_header_;
  if (!h.ParseFromArray(frame.header.data(), static_cast<int>(frame.header.size()))) {
    life_.ProtocolError("malformed_header", "unparsable REQUEST header");
    return;
  }
  const uint64_t call_id = h.call_id();
  if (streams_.contains(call_id)) {  // would orphan the open stream (its handler waits forever)
    life_.ProtocolError("unexpected_frame", "REQUEST reuses call id " + std::to_string(call_id) + " of an open stream");
    return;
  }
  max_call_id_ = std::max(max_call_id_, call_id);
  // Draining: refused, not executed (the client retries it elsewhere).
  auto* call = Admit(call_id, h.method(), h.timeout_us(), batch_time_,
                     goaway_sent_ || shared_->draining.load(std::memory_order_relaxed));
  if (call == nullptr) return;
  if (!h.metadata().empty()) call->mutable_metadata().swap(*h.mutable_metadata());
  if ((h.stream_kind() != wire::NONE) != call->entry().streaming()) {
    call->SetStatus(StatusCode::kInvalidArgument, call->entry().full_name +
                                                     (call->entry().streaming() ? " streams: open it as a stream"
                                                                                : " is unary: call it without a stream"));
    call->not_executed = true;
    WriteReply(call, CallHost::Clock::now());
    FlushSoon();
    Finish(call);
    return;
  }
  if (call->entry().streaming()) return OpenStream(call);
  if (!call->request()->ParseFromArray(frame.body.data(), static_cast<int>(frame.body.size()))) {
    call->SetStatus(StatusCode::kInvalidArgument,
                    "cannot parse request body as " + call->entry().request_prototype->GetTypeName());
    call->not_executed = true;
    Complete(call);
    return;
  }
  Dispatch(call);
}

void ServerConnection::Complete(ServerCall* call) {
  KRPC_ASSERT_IN_LOOP(InLoop() || !shared_->LoopsRunning());
  if (life_.closed()) return Finish(call);
  if (call->entry().streaming()) {  // a stream's end; nothing to send once the stream is gone
    if (streams_.contains(call->call_id())) return CompleteStream(call);
    return Finish(call);
  }
  // (Only on the loop: once the loops are stopped nothing would ever make room.)
  if (InLoop() && (!unwritten_.empty() || !has_write_room(shared_->options.max_write_queue_bytes))) {
    // The peer reads slower than calls finish: the reply waits unencoded, and is dropped if
    // the caller gives up meanwhile.
    TrackUnfinished(call);
    unwritten_.push_back(call);
    return;
  }
  WriteReply(call, CallHost::Clock::now());
  FlushSoon();
  Finish(call);
}

void ServerConnection::OnWriteRoom() {
  if (unwritten_.empty()) return;
  const auto now = CallHost::Clock::now();
  while (!unwritten_.empty() && unsent_bytes() < shared_->options.max_write_queue_bytes && !life_.closed()) {
    ServerCall* call = unwritten_.front();
    unwritten_.pop_front();
    WriteReply(call, now);
    Finish(call);
  }
}

void ServerConnection::WriteReply(ServerCall* call, CallHost::Clock::time_point now) {
  if (call->IsCanceled()) {
    shared_->replies_dropped.fetch_add(1, std::memory_order_relaxed);
    return;  // the client sent CANCEL: it reads no reply
  }
  wire::ResponseHeader h;
  h.set_call_id(call->call_id());
  if (call->status().ok() && call->expired(now)) {
    // The caller's deadline (never earlier than this one) has passed: it drops a late
    // response, so the body is not sent (an expired call in a long write queue costs nothing).
    shared_->replies_dropped.fetch_add(1, std::memory_order_relaxed);
    call->SetStatus(StatusCode::kDeadlineExceeded, "deadline passed before the response was written");
  }
  const size_t body_size = call->status().ok() ? call->response()->ByteSizeLong() : 0;
  if (body_size > shared_->limits.max_body_bytes) {
    call->SetStatus(StatusCode::kResourceExhausted,
                    "response of " + std::to_string(body_size) + " bytes exceeds max_body_bytes=" +
                        std::to_string(shared_->limits.max_body_bytes));
  }
  if (!call->response_metadata().empty()) *h.mutable_metadata() = call->response_metadata();
  for (const auto& [k, v] : call->trailing_metadata()) (*h.mutable_metadata())[k] = v;
  if (call->status().ok()) {
    codec::AppendFrame(out(), FrameType::kResponse, h, call->response());
  } else {
    h.set_status(static_cast<int32_t>(call->status().code()));
    h.set_message(call->status().message());
    h.set_not_executed(call->not_executed);
    codec::AppendFrame(out(), FrameType::kResponse, h, nullptr);
  }
}

void ServerConnection::ReplyError(uint64_t call_id, StatusCode code, std::string message, bool not_executed,
                                  int pushback_ms) {
  wire::ResponseHeader h;
  h.set_call_id(call_id);
  if (pushback_ms != kNoPushback) (*h.mutable_metadata())[std::string(codec::kRetryPushbackKey)] = std::to_string(pushback_ms);
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
