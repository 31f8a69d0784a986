// Streams on the SDK's krpc transport (docs/protocol.md "Streams on the krpc wire"): the
// attempt's REQUEST carries the stream kind and the client's credit, no message; the client's
// messages wait for STREAM_ACCEPT and then for credit; the server's MESSAGE frames go to the
// call's ClientStreamCore, and CREDIT frames return what the application read; the RESPONSE
// ends the attempt like a unary call's. An older node answers the REQUEST UNIMPLEMENTED (it has
// no streaming methods) and never sees a frame it does not know.
#include "krpc_transport.h"

namespace krpc::impl {
using codec::FrameType;

bool KrpcTransport::StartStream(Attempt* a, uint64_t id, Clock::time_point now) {
  auto& h = scratch_request_;
  const auto* m = a->call->method;
  h.set_stream_kind(m->client_streaming() ? (m->server_streaming() ? wire::BIDI_STREAMING : wire::CLIENT_STREAMING)
                                          : wire::SERVER_STREAMING);
  h.set_credit(kStreamWindow);
  const size_t before = out().size();
  codec::AppendFrame(out(), FrameType::kRequest, h, nullptr);
  NoteQueued(a, out().size() - before, now);
  OpenStream& s = streams_[id];
  s.core = a->call->stream;
  s.core->Attach(std::static_pointer_cast<KrpcTransport>(shared_from_this()), stream().socket().get_executor(), id);
  if (state() == State::kReady) FlushSoon();
  return true;
}

bool KrpcTransport::HandleStreamFrame(const codec::FrameView& frame) {
  auto bad = [&](const std::string& why) {
    Close(Status(StatusCode::kUnavailable, "protocol error from " + address() + ": " + why));
    return false;
  };
  const auto type = frame.prefix.type;
  uint64_t id = 0;
  wire::StreamAcceptHeader accept;
  wire::MessageHeader message;
  wire::CreditHeader credit;
  const bool parsed =
      type == FrameType::kStreamAccept ? accept.ParseFromArray(frame.header.data(), static_cast<int>(frame.header.size()))
      : type == FrameType::kMessage    ? message.ParseFromArray(frame.header.data(), static_cast<int>(frame.header.size()))
                                       : credit.ParseFromArray(frame.header.data(), static_cast<int>(frame.header.size()));
  if (!parsed) return bad("malformed " + std::string(codec::ToString(type)) + " header");
  id = type == FrameType::kStreamAccept ? accept.call_id() : type == FrameType::kMessage ? message.call_id() : credit.call_id();
  auto it = streams_.find(id);
  if (it == streams_.end()) return true;  // a stream this side ended (cancel, deadline): dropped
  OpenStream& s = it->second;
  if (type == FrameType::kStreamAccept) {
    s.accepted = true;
    s.send_credit = std::min<uint64_t>(accept.credit(), 1ull << 40);
    PumpStream(id, s);
  } else if (type == FrameType::kCredit) {
    s.send_credit = std::min<uint64_t>(s.send_credit + credit.bytes(), 1ull << 40);
    PumpStream(id, s);
  } else if (!message.half_close()) {
    const uint64_t size = frame.body.size();
    if (s.recv_outstanding > 0 && s.recv_outstanding + size > kStreamWindow) {
      return bad("MESSAGE beyond the credit of call " + std::to_string(id));
    }
    s.recv_outstanding += size;
    s.core->OnMessage(std::string(frame.body.data(), frame.body.size()), size);
  }
  return state() != State::kClosed;
}

void KrpcTransport::PumpStream(uint64_t id, OpenStream& s) {
  if (!s.accepted) return;
  wire::MessageHeader h;
  h.set_call_id(id);
  bool sent = false;
  while (!s.out.empty() && (s.send_credit >= s.out.front().size() || s.send_credit >= kStreamWindow)) {
    codec::AppendFrame(out(), FrameType::kMessage, h, std::string_view(s.out.front()));
    s.send_credit -= std::min<uint64_t>(s.send_credit, s.out.front().size());
    s.out_bytes -= s.out.front().size();
    s.out.pop_front();
    sent = true;
  }
  if (s.out.empty() && s.half_close) {
    h.set_half_close(true);
    codec::AppendFrame(out(), FrameType::kMessage, h, nullptr);
    s.half_close = false;
    sent = true;
  }
  if (!sent) return;
  if (state() == State::kReady || state() == State::kDraining) FlushSoon();
  s.core->OnProgress();
}

bool KrpcTransport::SendStreamMessage(uint64_t id, std::string_view payload) {
  auto it = streams_.find(id);
  if (it == streams_.end()) return false;
  it->second.out.emplace_back(payload);
  it->second.out_bytes += payload.size();
  PumpStream(id, it->second);
  return true;
}

bool KrpcTransport::CloseSend(uint64_t id) {
  auto it = streams_.find(id);
  if (it == streams_.end()) return false;
  it->second.half_close = true;
  PumpStream(id, it->second);
  return true;
}

size_t KrpcTransport::StreamUnsent(uint64_t id) const {
  auto it = streams_.find(id);
  return it == streams_.end() ? 0 : it->second.out_bytes;
}

void KrpcTransport::StreamConsumed(uint64_t id, size_t window_bytes) {
  auto it = streams_.find(id);
  if (it == streams_.end() || window_bytes == 0) return;
  it->second.recv_outstanding -= std::min<uint64_t>(it->second.recv_outstanding, window_bytes);
  wire::CreditHeader h;
  h.set_call_id(id);
  h.set_bytes(window_bytes);
  codec::AppendFrame(out(), FrameType::kCredit, h, nullptr);
  if (state() == State::kReady || state() == State::kDraining) FlushSoon();
}

void KrpcTransport::ForgetStream(uint64_t id) {
  auto it = streams_.find(id);
  if (it == streams_.end()) return;
  auto core = std::move(it->second.core);
  streams_.erase(it);
  core->OnStreamEnded();
}

}  // namespace krpc::impl
