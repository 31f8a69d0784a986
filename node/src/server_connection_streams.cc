// Streams on a krpc connection (docs/protocol.md "Streams on the krpc wire"). The opening
// REQUEST (a stream kind, no message) is admitted as any call; STREAM_ACCEPT tells the client
// it may send `kStreamWindow` bytes of messages. Each MESSAGE spends the receiver's credit;
// the reader returns it with CREDIT frames as the handler reads, so a handler that stops
// reading stops the client after one window. A MESSAGE beyond the credit is a protocol error
// (the connection closes, counted as frame_errors{reason="stream_credit"}), as are MESSAGE or
// CREDIT frames for a call that is not an open stream. The final RESPONSE (status, response
// and trailing metadata) follows the handler's last message.
#include "krpc/impl/thread_check.h"
#include "server_call.h"
#include "server_connection.h"

namespace krpc::node {
using codec::FrameType;

void ServerConnection::OpenStream(ServerCall* call) {
  KrpcStream& s = streams_[call->call_id()];
  s.call = call;
  const uint64_t credit = scratch_header_.credit();
  s.send_credit = credit == 0 ? kStreamWindow : std::min<uint64_t>(credit, 1ull << 40);
  s.stream = std::make_shared<StreamCall>(HostRef(), call);
  call->stream = s.stream;
  wire::StreamAcceptHeader accept;
  accept.set_call_id(call->call_id());
  accept.set_credit(kStreamWindow);
  codec::AppendFrame(out(), FrameType::kStreamAccept, accept, nullptr);
  FlushSoon();
  s.stream->Start();
  Dispatch(call);
}

bool ServerConnection::HandleMessage(const codec::FrameView& frame) {
  wire::MessageHeader h;
  if (!h.ParseFromArray(frame.header.data(), static_cast<int>(frame.header.size()))) {
    life_.ProtocolError("malformed_header", "unparsable MESSAGE header");
    return false;
  }
  auto it = streams_.find(h.call_id());
  if (it == streams_.end()) {
    // The stream may have ended here while the client still wrote (its deadline, an error):
    // a message for a call this connection has seen is dropped; any other is a protocol error.
    if (h.call_id() <= max_call_id_) return true;
    life_.ProtocolError("unexpected_frame", "MESSAGE for call " + std::to_string(h.call_id()) + ", not an open stream");
    return false;
  }
  KrpcStream& s = it->second;
  if (!s.stream || s.final) return true;  // ended here; its last messages wait for credit: dropped
  if (h.half_close()) {
    s.stream->OnHalfClose();
    return true;
  }
  const uint64_t size = frame.body.size();
  // One message is never split: one larger than the window passes only when the window is
  // fully open.
  if (s.recv_outstanding > 0 && s.recv_outstanding + size > kStreamWindow) {
    life_.ProtocolError("stream_credit", "MESSAGE of " + std::to_string(size) + " bytes beyond the credit of call " +
                                             std::to_string(h.call_id()));
    return false;
  }
  if (!shared_->frame_budget->TryCharge(size)) {
    EndStream(h.call_id(), Status(StatusCode::kResourceExhausted,
                                  "the node's memory for received messages is exhausted (max_pending_frame_bytes=" +
                                      std::to_string(shared_->frame_budget->limit()) + ")"));
    return true;
  }
  s.recv_outstanding += size;
  s.stream->OnMessage(std::string(frame.body.data(), frame.body.size()), size, size);
  return life_.reading();
}

bool ServerConnection::HandleCredit(const codec::FrameView& frame) {
  wire::CreditHeader h;
  if (!h.ParseFromArray(frame.header.data(), static_cast<int>(frame.header.size()))) {
    life_.ProtocolError("malformed_header", "unparsable CREDIT header");
    return false;
  }
  auto it = streams_.find(h.call_id());
  if (it == streams_.end()) return h.call_id() <= max_call_id_;  // a stream that ended here
  KrpcStream& s = it->second;
  s.send_credit = std::min<uint64_t>(s.send_credit + h.bytes(), 1ull << 40);
  SendStreamOut(h.call_id(), s);
  return true;
}

Status ServerConnection::SendStreamMessage(uint64_t call_id, std::string_view payload) {
  KRPC_ASSERT_IN_LOOP(InLoop());
  auto it = streams_.find(call_id);
  if (it == streams_.end() || it->second.final || life_.closed()) return {StatusCode::kCancelled, "the stream ended"};
  if (payload.size() > shared_->limits.max_body_bytes) {
    return {StatusCode::kResourceExhausted, "response message of " + std::to_string(payload.size()) +
                                                " bytes exceeds max_body_bytes=" +
                                                std::to_string(shared_->limits.max_body_bytes)};
  }
  KrpcStream& s = it->second;
  s.out.emplace_back(payload);
  s.out_bytes += payload.size();
  SendStreamOut(call_id, s);
  return Status::Ok();
}

void ServerConnection::SendStreamOut(uint64_t call_id, KrpcStream& s) {
  wire::MessageHeader h;
  h.set_call_id(call_id);
  bool sent = false;
  while (!s.out.empty() && (s.send_credit >= s.out.front().size() || s.send_credit >= kStreamWindow)) {
    const std::string& m = s.out.front();
    codec::AppendFrame(out(), FrameType::kMessage, h, std::string_view(m));
    s.send_credit -= std::min<uint64_t>(s.send_credit, m.size());
    s.out_bytes -= m.size();
    s.out.pop_front();
    sent = true;
  }
  if (s.out.empty() && s.final) {
    codec::AppendFrame(out(), FrameType::kResponse, *s.final, nullptr);
    sent = true;
    streams_.erase(call_id);  // its StreamCall ended already (CompleteStream)
  } else if (sent && s.stream) {
    s.stream->OnProgress();
  }
  if (sent) FlushSoon();
}

size_t ServerConnection::StreamUnsent(uint64_t call_id) const {
  auto it = streams_.find(call_id);
  return it == streams_.end() ? 0 : it->second.out_bytes;
}

void ServerConnection::StreamConsumed(uint64_t call_id, size_t wire_bytes, size_t window_bytes) {
  shared_->frame_budget->Release(wire_bytes);
  auto it = streams_.find(call_id);
  if (it == streams_.end() || window_bytes == 0 || life_.closed()) return;
  KrpcStream& s = it->second;
  s.recv_outstanding -= std::min<uint64_t>(s.recv_outstanding, window_bytes);
  if (s.final) return;  // over: the client sends no more
  wire::CreditHeader h;
  h.set_call_id(call_id);
  h.set_bytes(window_bytes);
  codec::AppendFrame(out(), FrameType::kCredit, h, nullptr);
  FlushSoon();
}

void ServerConnection::CompleteStream(ServerCall* call) {
  const uint64_t id = call->call_id();
  auto it = streams_.find(id);
  KrpcStream& s = it->second;
  if (!s.final) {
    wire::ResponseHeader h;
    h.set_call_id(id);
    h.set_status(static_cast<int32_t>(call->status().code()));
    h.set_message(call->status().message());
    h.set_not_executed(call->not_executed);
    if (!call->response_metadata().empty()) *h.mutable_metadata() = call->response_metadata();
    for (const auto& [k, v] : call->trailing_metadata()) (*h.mutable_metadata())[k] = v;
    s.final = std::move(h);
  }
  s.call = nullptr;
  auto stream = s.stream;  // may be erased below
  if (stream) stream->OnEnded();  // returns what the handler did not read
  if (auto again = streams_.find(id); again != streams_.end()) {
    again->second.stream.reset();
    SendStreamOut(id, again->second);
  }
  Finish(call);
}

void ServerConnection::EndStream(uint64_t call_id, const Status& status) {
  auto it = streams_.find(call_id);
  if (it == streams_.end() || it->second.final) return;
  KrpcStream& s = it->second;
  ServerCall* call = s.call;
  wire::ResponseHeader h;
  h.set_call_id(call_id);
  h.set_status(static_cast<int32_t>(status.code()));
  h.set_message(status.message());
  s.final = std::move(h);
  s.out.clear();  // ended early: what waited for credit is not sent
  s.out_bytes = 0;
  auto stream = s.stream;
  if (stream) stream->OnEnded();
  if (auto again = streams_.find(call_id); again != streams_.end()) SendStreamOut(call_id, again->second);
  if (call) CancelCall(call);  // the handler sees a cancel; its Finish sends nothing more
}

void ServerConnection::DropStream(uint64_t call_id) {
  auto it = streams_.find(call_id);
  if (it == streams_.end()) return;
  auto stream = std::move(it->second.stream);
  streams_.erase(it);
  if (stream) stream->OnEnded();  // its StreamConsumed find nothing left to credit
}

}  // namespace krpc::node
