#include "grpc_server_connection.h"

#include "krpc/impl/thread_check.h"
#include "krpc/net/grpc_wire.h"
#include "server_call.h"

namespace krpc::node {
namespace asio = boost::asio;
namespace grpc = net::grpc;

using net::h2_error::kEnhanceYourCalm;
using net::h2_error::kNoError;

namespace {

net::H2Settings SettingsFor(const ServerOptions& o) {
  net::H2Settings s;
  s.max_concurrent_streams = static_cast<uint32_t>(std::min(o.max_inflight, 1000));
  s.max_header_list_size = codec::kMaxHeaderBytes;
  s.manual_window = true;  // streams return the client's window as their handlers read
  return s;
}
}  // namespace

GrpcServerConnection::GrpcServerConnection(net::Stream io, std::shared_ptr<ServerShared> shared,
                                           uint64_t id)
    : H2Connection(std::move(io), Role::kServer, SettingsFor(shared->options), shared),
      CallHost(shared, *stream().socket().get_executor().target<asio::io_context::executor_type>(), id,
               Protocol::kGrpc),
      life_(*this, shared_, executor_,
            {"HTTP/2", std::max(std::chrono::milliseconds(5), std::chrono::milliseconds(shared_->options.heartbeat_interval_ms / 2)),
             /*linger=*/false}) {
  SetPeer(stream());
  stream().Configure();
}

GrpcServerConnection::~GrpcServerConnection() = default;

void GrpcServerConnection::Start(Refusal refusal) {
  H2Connection::Start();
  life_.Start(id_, peer_);
  if (refusal == Refusal::kConnectionLimit) {
    SubmitGoaway(kEnhanceYourCalm,
                 "connection limit reached (max_connections=" + std::to_string(shared_->options.max_connections) + ")",
                 0);
    life_.CloseAfterFlush("connection limit");
  } else if (refusal == Refusal::kTlsRequired) {
    SubmitGoaway(net::h2_error::kInadequateSecurity, "TLS required (tls_mode=strict)", 0);
    life_.CloseAfterFlush("TLS required");
  }
}

// A graceful shutdown in two steps, as RFC 9113 6.8 describes: a shutdown notice and a PING;
// on its ACK, the final GOAWAY names the last stream the client opened before it saw the
// notice, so every stream is either served or refused by the GOAWAY (which gRPC clients retry
// transparently), and none is cut off by the close. The drain counts this connection until
// it closes.
void GrpcServerConnection::Goaway() {
  shared_->goaway_unacked.fetch_add(1, std::memory_order_acq_rel);  // before Shutdown can look
  Post([self = self()] {
    if (self->life_.closed() || self->goaway_sent_ || self->drain_ack_pending_) {
      self->shared_->GoawayAcknowledged();  // closed or closing already
      return;
    }
    self->drain_ack_pending_ = true;
    self->EndWatches();
    self->SubmitShutdownNotice(kDrainPing);
  });
}

void GrpcServerConnection::OnPingAck(uint64_t opaque) {
  if (opaque != kDrainPing || goaway_sent_ || life_.closed()) return;
  goaway_sent_ = true;
  SubmitGoaway(kNoError, "server is draining");
  if (SessionDone()) life_.CloseAfterFlush("drained");
}

void GrpcServerConnection::OnBeginHeaders(int32_t stream_id) {
  streams_.try_emplace(stream_id);  // a second header block (trailers) keeps its request
}

bool GrpcServerConnection::OnData(int32_t stream_id, std::string_view data) {
  auto it = streams_.find(stream_id);
  if (it == streams_.end()) {
    Consume(stream_id, data.size());
    return true;
  }
  Request& r = it->second;
  if (r.stream) {
    StreamData(stream_id, r, data);
    return true;
  }
  // A unary request's bytes are the node's at once (its memory budget and max_body_bytes
  // bound them), so they go back to the client's window on arrival.
  Consume(stream_id, data.size());
  if (r.answered || r.call) return true;  // discarded: already answered
  const size_t limit = size_t{shared_->limits.max_body_bytes} + grpc::kMessagePrefix;
  if (r.body.size() + data.size() > limit) {
    const size_t seen = r.body.size() + data.size();
    ReleaseBody(r);
    RespondStatus(stream_id, StatusCode::kResourceExhausted,
                  "request of more than " + std::to_string(seen - grpc::kMessagePrefix) +
                      " bytes exceeds max_body_bytes=" + std::to_string(shared_->limits.max_body_bytes));
    r.answered = true;
    return true;
  }
  if (!shared_->frame_budget->TryCharge(data.size())) {
    ReleaseBody(r);
    RespondStatus(stream_id, StatusCode::kResourceExhausted,
                  "the node's memory for partly received requests is exhausted (max_pending_frame_bytes=" +
                      std::to_string(shared_->frame_budget->limit()) + ")");
    r.answered = true;
    return true;
  }
  r.body.append(data);
  return true;
}

Status GrpcServerConnection::ParseBody(Request& r, google::protobuf::MessageLite* into) {
  std::string inflated;
  std::string_view message;
  Status st = grpc::ExtractUnaryMessage(r.body, r.encoding, shared_->limits.max_body_bytes, &inflated, &message);
  if (st.ok() && !into->ParseFromArray(message.data(), static_cast<int>(message.size()))) {
    // The message arrived whole but is not the method's request: the caller's error, as on
    // the krpc wire (INTERNAL is for framing the transport could not read).
    st = Status(StatusCode::kInvalidArgument, "cannot parse request message as " + into->GetTypeName());
  }
  ReleaseBody(r);
  return st;
}

void GrpcServerConnection::ReleaseBody(Request& r) {
  shared_->frame_budget->Release(r.body.size());
  std::string().swap(r.body);
}

void GrpcServerConnection::OnStreamEnd(int32_t stream_id) {
  auto it = streams_.find(stream_id);
  if (it == streams_.end()) return;
  if (Request& r = it->second; r.stream && !r.response_closed) {
    if (r.cutter.buffered() > 0) {
      return EndStream(static_cast<uint64_t>(stream_id),
                       Status(StatusCode::kInternal, "the client's stream ended inside a message"));
    }
    return r.stream->OnHalfClose();
  }
  if (it->second.answered || it->second.call) return;
  if (it->second.watch) return StartWatch(stream_id, it->second);
  StartCall(stream_id, it->second);
}

void GrpcServerConnection::StartCall(int32_t stream_id, Request& r) {
  r.answered = true;  // from here on, the call (or an error) answers it
  // Never refused for the drain here: a stream that began before the final GOAWAY is at or
  // below its last stream id, which promises to serve it; nghttp2 ignores the ones above.
  auto* call = Admit(static_cast<uint64_t>(stream_id), r.path, r.timeout_us, last_recv(), /*refusing=*/false);
  if (call == nullptr) {
    ReleaseBody(r);
    return;
  }
  r.call = call;
  call->mutable_metadata().swap(r.metadata);
  const Status st = ParseBody(r, call->request());
  if (!st.ok()) {
    call->SetStatus(st.code(), st.message());
    call->not_executed = true;
    Complete(call);
    return;
  }
  Dispatch(call);
}

void GrpcServerConnection::Complete(ServerCall* call) {
  KRPC_ASSERT_IN_LOOP(InLoop() || !shared_->LoopsRunning());
  const auto stream_id = static_cast<int32_t>(call->call_id());
  auto it = streams_.find(stream_id);
  if (it != streams_.end() && it->second.call == call && !life_.closed() && it->second.stream) {
    BatchedWrites batch(*this);  // the entry stays valid until the writes
    it->second.call = nullptr;
    CloseStream(stream_id, it->second, call->status(), call);
    DropStream(stream_id, it->second);
  } else if (it != streams_.end() && it->second.call == call && !life_.closed()) {
    it->second.call = nullptr;
    std::string body;
    if (call->status().ok()) {
      const size_t size = call->response()->ByteSizeLong();
      if (size > shared_->limits.max_body_bytes) {
        call->SetStatus(StatusCode::kResourceExhausted, "response of " + std::to_string(size) +
                                                            " bytes exceeds max_body_bytes=" +
                                                            std::to_string(shared_->limits.max_body_bytes));
      } else {
        body = grpc::FramedMessage(*call->response(), size);
      }
    }
    net::Headers headers = ResponseHeaders(*call);
    if (call->status().ok()) {
      net::Headers trailers{{"grpc-status", "0"}};
      AppendTrailing(trailers, *call);
      SubmitResponse(stream_id, headers, std::move(body), std::move(trailers));
    } else {
      AppendStatus(headers, call->status().code(), call->status().message());
      AppendTrailing(headers, *call);
      SubmitResponse(stream_id, headers, {}, {});
    }
  }
  Finish(call);
}

void GrpcServerConnection::OnStreamClosed(int32_t stream_id, uint32_t) {
  watches_.erase(stream_id);
  auto it = streams_.find(stream_id);
  if (it == streams_.end()) return;
  ServerCall* running = it->second.call;
  DropStream(stream_id, it->second);
  ReleaseBody(it->second);
  streams_.erase(it);
  // The client reset the stream (a cancel or its deadline) while the handler ran.
  if (running) CancelCall(running);
  if (goaway_sent_ && SessionDone()) life_.CloseAfterFlush("drained");
}

void GrpcServerConnection::OnSessionError(std::string detail) { life_.ProtocolError("http2", detail); }

void GrpcServerConnection::OnReadFailed(const boost::system::error_code& ec) {
  life_.Close(ec == asio::error::eof ? "peer closed" : ec.message());
}

void GrpcServerConnection::OnOutputDrained() {
  // nghttp2 ends the session after a GOAWAY either way (a drain, or a peer that broke HTTP/2).
  if (SessionDone() && !life_.closing()) return life_.Close("session ended");
  life_.OutputDrained();
}

bool GrpcServerConnection::FlushOutput() {
  // Writes what nghttp2 holds (a GOAWAY just submitted); OnOutputDrained follows once all is
  // written, now or when the write on the wire completes.
  if (output_idle()) Flush();
  return false;
}

bool GrpcServerConnection::QueueIdleGoodbye() {
  SubmitGoaway(kNoError, "idle");
  return true;
}

void GrpcServerConnection::OnClosed() {
  GoawayAcknowledged();  // a closed connection carries no more streams
  watches_.clear();
  for (auto& [id, r] : streams_) {
    DropStream(id, r);
    r.stream.reset();  // it holds this connection: no cycle may outlive the close
    ReleaseBody(r);
  }
  CancelUnfinished();
}

}  // namespace krpc::node
