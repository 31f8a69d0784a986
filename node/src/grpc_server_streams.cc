// Streaming calls on a gRPC connection: many length-prefixed messages each way on one HTTP/2
// stream, the client's END_STREAM as its half-close, the status in trailers.
//
// Flow control follows the handler (the connection's window updates are manual): the bytes
// of a whole message the handler has not read stay unreturned, so a handler that stops
// reading shuts the client's window once one window is queued. The bytes of a message still
// arriving are returned at once while nothing waits to be read (a message larger than the
// window must be able to arrive), so a stream holds at most one window plus one message
// (max_body_bytes), all of it counted in max_pending_frame_bytes.
#include "grpc_server_connection.h"
#include "krpc/impl/thread_check.h"
#include "krpc/net/grpc_wire.h"
#include "server_call.h"

namespace krpc::node {
namespace grpc = net::grpc;

void GrpcServerConnection::StartStream(int32_t stream_id, Request& r) {
  r.answered = true;
  auto* call = Admit(static_cast<uint64_t>(stream_id), r.path, r.timeout_us, last_recv(), /*refusing=*/false);
  if (call == nullptr) return;
  r.call = call;
  call->mutable_metadata().swap(r.metadata);
  r.stream = std::make_shared<StreamCall>(HostRef(), call);
  call->stream = r.stream;
  r.stream->Start();
  Dispatch(call);
}

void GrpcServerConnection::StreamData(int32_t stream_id, Request& r, std::string_view data) {
  if (r.response_closed || !r.stream) {  // over: what still comes is dropped
    Consume(stream_id, data.size());
    return;
  }
  if (!shared_->frame_budget->TryCharge(data.size())) {
    Consume(stream_id, data.size());
    return EndStream(static_cast<uint64_t>(stream_id),
                     Status(StatusCode::kResourceExhausted,
                            "the node's memory for received messages is exhausted (max_pending_frame_bytes=" +
                                std::to_string(shared_->frame_budget->limit()) + ")"));
  }
  std::vector<grpc::MessageCutter::Message> messages;
  size_t window_now = 0;
  const Status st = r.cutter.Add(data, r.stream->queued() == 0, r.encoding, shared_->limits.max_body_bytes,
                                 &messages, &window_now);
  Consume(stream_id, window_now);
  for (auto& m : messages) {
    r.stream->OnMessage(std::move(m.payload), m.wire_bytes, m.window_bytes);
    if (r.response_closed) return;  // the handler's side ended it (a message that did not parse)
  }
  if (!st.ok()) EndStream(static_cast<uint64_t>(stream_id), st);
}

Status GrpcServerConnection::SendStreamMessage(uint64_t call_id, std::string_view payload) {
  KRPC_ASSERT_IN_LOOP(InLoop());
  const auto stream_id = static_cast<int32_t>(call_id);
  auto it = streams_.find(stream_id);
  if (it == streams_.end() || it->second.response_closed || it->second.call == nullptr || life_.closed()) {
    return {StatusCode::kCancelled, "the stream ended"};
  }
  if (payload.size() > shared_->limits.max_body_bytes) {
    return {StatusCode::kResourceExhausted, "response message of " + std::to_string(payload.size()) +
                                                " bytes exceeds max_body_bytes=" +
                                                std::to_string(shared_->limits.max_body_bytes)};
  }
  BatchedWrites batch(*this);  // `r` stays valid until the writes
  Request& r = it->second;
  if (!r.response_open) {
    if (!OpenResponse(stream_id, ResponseHeaders(*r.call))) return {StatusCode::kCancelled, "the stream ended"};
    r.response_open = true;
  }
  std::string framed;
  framed.reserve(grpc::kMessagePrefix + payload.size());
  grpc::AppendMessagePrefix(framed, static_cast<uint32_t>(payload.size()));
  framed.append(payload);
  if (!SendData(stream_id, framed)) return {StatusCode::kCancelled, "the stream ended"};
  return Status::Ok();
}

void GrpcServerConnection::OnSendProgress(int32_t stream_id) {
  auto it = streams_.find(stream_id);
  if (it != streams_.end() && it->second.stream) it->second.stream->OnProgress();
}

void GrpcServerConnection::StreamConsumed(uint64_t call_id, size_t wire_bytes, size_t window_bytes) {
  const auto stream_id = static_cast<int32_t>(call_id);
  shared_->frame_budget->Release(wire_bytes);
  auto it = streams_.find(stream_id);
  if (it != streams_.end() && it->second.stream && it->second.stream->queued() == 0) {
    // The handler caught up: the part of a message still arriving goes back too (it may be
    // larger than what is left of the window).
    window_bytes += it->second.cutter.TakeHeld();
  }
  if (!life_.closed()) Consume(stream_id, window_bytes);
}

void GrpcServerConnection::CloseStream(int32_t stream_id, Request& r, const Status& status,
                                       const ServerController* call) {
  if (r.response_closed) return;
  r.response_closed = true;
  if (r.response_open) {
    net::Headers trailers;
    AppendStatus(trailers, status.code(), status.message());
    if (call) AppendTrailing(trailers, *call);
    CloseResponse(stream_id, std::move(trailers));
    return;
  }
  // Trailers-Only: the headers carry the status (and the handler's response metadata).
  net::Headers headers = call ? ResponseHeaders(*static_cast<const ServerCall*>(call))
                              : net::Headers{{":status", "200"}, {"content-type", "application/grpc"}};
  AppendStatus(headers, status.code(), status.message());
  if (call) AppendTrailing(headers, *call);
  SubmitResponse(stream_id, headers, {}, {});
}

void GrpcServerConnection::EndStream(uint64_t call_id, const Status& status) {
  const auto stream_id = static_cast<int32_t>(call_id);
  auto it = streams_.find(stream_id);
  if (it == streams_.end()) return;
  Request& r = it->second;
  if (r.response_closed) return;
  ServerCall* call = r.call;
  {
    BatchedWrites batch(*this);  // `r` stays valid until the writes
    CloseStream(stream_id, r, status, call);
    DropStream(stream_id, r);
  }
  if (call) CancelCall(call);  // the handler sees a cancel; its Finish sends nothing more
}

void GrpcServerConnection::DropStream(int32_t stream_id, Request& r) {
  if (r.stream) r.stream->OnEnded();  // returns the messages it held (StreamConsumed)
  shared_->frame_budget->Release(r.cutter.buffered());
  const size_t held = r.cutter.Clear();
  if (!life_.closed()) Consume(stream_id, held);
}

}  // namespace krpc::node
