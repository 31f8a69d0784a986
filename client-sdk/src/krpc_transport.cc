#include "krpc_transport.h"

#include "krpc/log.h"

namespace krpc::impl {
namespace asio = boost::asio;
using codec::FrameType;

KrpcTransport::KrpcTransport(asio::any_io_executor executor, Endpoint endpoint, ConnectionOptions options,
                             std::weak_ptr<TransportListener> listener, std::shared_ptr<net::TlsContext> tls)
    : FramedConnection(net::Stream(asio::ip::tcp::socket(executor)), codec::Limits{codec::kMaxHeaderBytes, options.max_body_bytes}),
      Transport(executor, std::move(endpoint), options, std::move(listener), std::move(tls)) {}

KrpcTransport::~KrpcTransport() = default;

void KrpcTransport::OnStreamConnected() {
  set_last_recv(Clock::now());
  StartReading();
  WriteWaiting();
  Flush();
}

bool KrpcTransport::SendRequest(Attempt* a, uint64_t id, Clock::time_point now) {
  CallData* call = a->call;
  auto& h = scratch_request_;
  h.set_call_id(id);
  const auto* m = call->method;
  h.mutable_method()->assign("/").append(m->service()->full_name()).append("/").append(m->name());
  const bool has_deadline = a->deadline != Clock::time_point::max();
  h.set_timeout_us(has_deadline ? std::max<int64_t>(1, std::chrono::duration_cast<std::chrono::microseconds>(
                                                            a->deadline - now)
                                                            .count())
                                : 0);
  h.clear_metadata();
  for (const auto& [k, v] : call->metadata) (*h.mutable_metadata())[k] = v;
  if (const size_t header = h.ByteSizeLong(); header > codec::kMaxHeaderBytes) {
    // The channel checks metadata before the call starts; this guards what gets past it, so
    // that one call's metadata never makes the server close a connection others share.
    TakeCall(id);
    EndAttempt(a, Status(StatusCode::kResourceExhausted, "request header of " + std::to_string(header) +
                                                       " bytes exceeds the 64 KiB header limit"),
            true);
    return false;
  }
  if (call->stream) return StartStream(a, id, now);
  h.set_stream_kind(wire::NONE);
  h.set_credit(0);
  const size_t before = out().size();
  codec::AppendFrame(out(), FrameType::kRequest, h, call->request);
  NoteQueued(a, out().size() - before, now);
  if (state() == State::kReady) FlushSoon();
  return true;
}

void KrpcTransport::SendCancel(uint64_t call_id) {
  ForgetStream(call_id);
  if (state() != State::kReady && state() != State::kDraining) return;
  wire::CancelHeader c;
  c.set_call_id(call_id);
  codec::AppendFrame(out(), FrameType::kCancel, c, nullptr);
  FlushSoon();
}

void KrpcTransport::SendPing() {
  wire::PingHeader ping;
  ping.set_nonce(++ping_nonce_);
  codec::AppendFrame(out(), FrameType::kPing, ping, nullptr);
  Flush();
}

void KrpcTransport::OnDecodeError(const codec::DecodeResult& r) {
  Close(Status(StatusCode::kUnavailable, "protocol error from " + address() + ": " + std::string(codec::ToString(r.error))));
}

void KrpcTransport::OnProtocolError(std::string_view reason, std::string detail) {
  Close(Status(StatusCode::kUnavailable, "protocol error from " + address() + ": " + detail));
}

// Client readers have no shared budget; a frame over max_body_bytes is a decode error.
void KrpcTransport::OnOverBudget() {
  Close(Status(StatusCode::kUnavailable, "connection to " + address() + ": partly received frame over budget"));
}

bool KrpcTransport::OnFrame(const codec::FrameView& frame) {
  switch (frame.prefix.type) {
    case FrameType::kResponse:
      HandleResponse(frame);
      return state() != State::kClosed;
    case FrameType::kPing:
    case FrameType::kPong:
      return true;  // answered by FramedConnection
    case FrameType::kGoaway:
      HandleGoaway(frame);
      return state() != State::kClosed;
    case FrameType::kStreamAccept:
    case FrameType::kMessage:
    case FrameType::kCredit:
      return HandleStreamFrame(frame);
    case FrameType::kRequest:
    case FrameType::kCancel:
      Close(Status(StatusCode::kUnavailable, "protocol error from " + address() + ": unexpected " +
                                                std::string(codec::ToString(frame.prefix.type)) + " frame"));
      return false;
  }
  return true;
}

void KrpcTransport::HandleResponse(const codec::FrameView& frame) {
  auto& h = scratch_response_;
  if (!h.ParseFromArray(frame.header.data(), static_cast<int>(frame.header.size()))) {
    Close(Status(StatusCode::kUnavailable, "protocol error from " + address() + ": malformed RESPONSE header"));
    return;
  }
  ForgetStream(h.call_id());
  Attempt* a = TakeCall(h.call_id());
  if (!a) return;  // finished already (deadline or cancel): a late reply is dropped
  Status status(StatusCodeFromInt(h.status()), h.message());
  a->response_metadata.clear();
  for (const auto& [k, v] : h.metadata()) a->response_metadata.emplace_back(k, v);
  if (status.ok() && !a->response->ParseFromArray(frame.body.data(), static_cast<int>(frame.body.size()))) {
    status = Status(StatusCode::kInternal, "cannot parse response body as " + a->response->GetTypeName());
  }
  CompleteCall(a, std::move(status), h.not_executed());
}

void KrpcTransport::HandleGoaway(const codec::FrameView& frame) {
  wire::GoawayHeader g;
  if (!g.ParseFromArray(frame.header.data(), static_cast<int>(frame.header.size()))) {
    Close(Status(StatusCode::kUnavailable, "protocol error from " + address() + ": malformed GOAWAY header"));
    return;
  }
  const Status why(StatusCodeFromInt(g.status()), g.message());
  if (!why.ok()) {
    // The server refused the connection (e.g. its connection limit): fail with its reason.
    Close(Status(why.code(), address() + " refused the connection: " + why.message()));
    return;
  }
  // Drain: no new calls here; calls already sent are answered (or refused as not executed).
  StartDraining("GOAWAY: " + g.message());
}

}  // namespace krpc::impl
