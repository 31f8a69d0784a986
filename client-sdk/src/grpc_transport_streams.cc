// Streaming calls on the SDK's gRPC transport: the attempt opens an HTTP/2 stream that stays
// open (the client's messages as the application writes them, WritesDone as END_STREAM), and
// the server's messages go to the call's ClientStreamCore as they arrive. Flow control follows
// the application, as on the node (docs/protocol.md "Streams"): the bytes of a whole message go
// back to the server's window when it is read; those of a message still arriving at once while
// the application has read everything before. The status comes from the trailers, as for a
// unary call, and ends the attempt.
#include "grpc_transport.h"
#include "krpc/net/grpc_wire.h"

namespace krpc::impl {
namespace grpc = net::grpc;

bool GrpcTransport::OpenStream(Attempt* a, uint64_t id, net::Headers headers) {
  const int32_t stream_id = OpenRequest(headers);
  if (stream_id <= 0) {
    TakeCall(id);
    EndAttempt(a, Status(StatusCode::kUnavailable, "cannot open a stream to " + address()), true);
    return false;
  }
  Pending& p = streams_[stream_id];
  p.id = id;
  p.stream = a->call->stream;
  stream_of_[id] = stream_id;
  p.stream->Attach(std::static_pointer_cast<GrpcTransport>(shared_from_this()), TheStream().socket().get_executor(),
                   stream_id);
  return true;
}

bool GrpcTransport::StreamData(int32_t stream_id, Pending& p, std::string_view data) {
  std::vector<grpc::MessageCutter::Message> messages;
  size_t window_now = 0;
  const Status st = p.cutter.Add(data, p.stream->queued() == 0, "identity", options().max_body_bytes, &messages,
                                 &window_now);
  Consume(stream_id, window_now);
  for (auto& m : messages) p.stream->OnMessage(std::move(m.payload), m.window_bytes);
  if (st.ok()) return true;
  p.too_large = true;  // ends the attempt RESOURCE_EXHAUSTED
  Consume(stream_id, p.cutter.Clear());
  return false;        // resets the stream
}

bool GrpcTransport::SendStreamMessage(uint64_t id, std::string_view payload) {
  const auto stream_id = static_cast<int32_t>(id);
  if (!streams_.contains(stream_id)) return false;
  std::string framed;
  framed.reserve(grpc::kMessagePrefix + payload.size());
  grpc::AppendMessagePrefix(framed, static_cast<uint32_t>(payload.size()));
  framed.append(payload);
  return SendData(stream_id, framed);
}

bool GrpcTransport::CloseSend(uint64_t id) {
  const auto stream_id = static_cast<int32_t>(id);
  return streams_.contains(stream_id) && CloseResponse(stream_id, {});
}

void GrpcTransport::StreamConsumed(uint64_t id, size_t window_bytes) {
  const auto stream_id = static_cast<int32_t>(id);
  auto it = streams_.find(stream_id);
  if (it != streams_.end() && it->second.stream && it->second.stream->queued() == 0) {
    window_bytes += it->second.cutter.TakeHeld();  // the part of a message still arriving
  }
  if (state() != State::kClosed) Consume(stream_id, window_bytes);
}

void GrpcTransport::OnSendProgress(int32_t stream_id) {
  auto it = streams_.find(stream_id);
  if (it != streams_.end() && it->second.stream) it->second.stream->OnProgress();
}

}  // namespace krpc::impl
