#include "grpc_transport.h"

#include "krpc/net/grpc_wire.h"

namespace krpc::impl {
namespace asio = boost::asio;
namespace grpc = net::grpc;

using net::h2_error::kCancel;
using net::h2_error::kNoError;
using net::h2_error::kRefusedStream;

namespace {

// The krpc health service's probes go to gRPC's standard health service (same messages).
std::string PathOf(const google::protobuf::MethodDescriptor* m) {
  const std::string& service = m->service()->full_name();
  if (service == "krpc.health.v1.Health") return "/grpc.health.v1.Health/" + m->name();
  return "/" + service + "/" + m->name();
}
}  // namespace

GrpcTransport::GrpcTransport(asio::any_io_executor executor, Endpoint endpoint, ConnectionOptions options,
                             std::weak_ptr<TransportListener> listener, std::shared_ptr<net::TlsContext> tls)
    : H2Connection(net::Stream(asio::ip::tcp::socket(executor)), Role::kClient,
                   net::H2Settings{.manual_window = true}),  // streams return the window as they are read
      Transport(executor, endpoint, options, std::move(listener), std::move(tls)),
      authority_(endpoint.ToString()) {}

GrpcTransport::~GrpcTransport() = default;

void GrpcTransport::OnStreamConnected() { Start(); }

bool GrpcTransport::SendRequest(Attempt* a, uint64_t id, Clock::time_point now) {
  CallData* call = a->call;
  net::Headers h{{":method", "POST"},
                 {":scheme", "http"},
                 {":path", PathOf(call->method)},
                 {":authority", authority_},
                 {"content-type", "application/grpc"},
                 {"te", "trailers"},
                 {"user-agent", "krpc"}};
  if (a->deadline != Clock::time_point::max()) {
    h.emplace_back("grpc-timeout",
                   grpc::FormatTimeout(std::chrono::duration_cast<std::chrono::microseconds>(a->deadline - now)));
  }
  for (const auto& [k, v] : call->metadata) {
    if (grpc::IsReservedHeader(k)) continue;  // never let metadata forge protocol headers
    h.emplace_back(k, grpc::HeaderValue(k, v));
  }
  if (call->stream) return OpenStream(a, id, std::move(h));
  const size_t body = call->request->ByteSizeLong();
  const int32_t stream_id = SubmitRequest(h, grpc::FramedMessage(*call->request, body));
  if (stream_id <= 0) {
    TakeCall(id);
    EndAttempt(a, Status(StatusCode::kUnavailable, "cannot open a stream to " + address()), true);
    return false;
  }
  NoteQueued(a, body + grpc::kMessagePrefix, now);  // counts against max_queued_request_bytes
  streams_[stream_id].id = id;
  stream_of_[id] = stream_id;
  return true;
}

void GrpcTransport::SendCancel(uint64_t id) {
  auto it = stream_of_.find(id);
  if (it == stream_of_.end()) return;
  const int32_t stream_id = it->second;
  stream_of_.erase(it);
  if (auto p = streams_.find(stream_id); p != streams_.end() && p->second.stream) {
    p->second.stream->OnStreamEnded();
    Consume(stream_id, p->second.cutter.Clear());
  }
  streams_.erase(stream_id);
  if (state() == State::kReady || state() == State::kDraining) ResetStream(stream_id, kCancel);
}

bool GrpcTransport::OnHeader(int32_t stream_id, std::string_view name, std::string_view value) {
  auto it = streams_.find(stream_id);
  if (it == streams_.end()) return true;
  Pending& p = it->second;
  if (name == ":status") {
    p.http_status = std::atoi(std::string(value).c_str());
  } else if (name == "grpc-status") {
    p.grpc_status = std::atoi(std::string(value).c_str());
  } else if (name == "grpc-message") {
    p.grpc_message = grpc::PercentDecode(value);
  } else if (grpc::IsReservedHeader(name)) {
    return true;
  } else if (grpc::IsBinaryHeader(name)) {  // "-bin" values travel base64-encoded
    if (auto bytes = grpc::Base64Decode(value)) p.metadata.emplace_back(name, std::move(*bytes));
  } else {
    p.metadata.emplace_back(name, value);
  }
  return true;
}

bool GrpcTransport::OnData(int32_t stream_id, std::string_view data) {
  auto it = streams_.find(stream_id);
  if (it == streams_.end()) {
    Consume(stream_id, data.size());
    return true;
  }
  Pending& p = it->second;
  if (p.stream) return StreamData(stream_id, p, data);
  Consume(stream_id, data.size());  // a unary response is ours at once (max_body_bytes bounds it)
  if (p.body.size() + data.size() > options().max_body_bytes + grpc::kMessagePrefix) {
    p.too_large = true;
    std::string().swap(p.body);
    return false;  // resets the stream
  }
  p.body.append(data);
  return true;
}

void GrpcTransport::OnStreamEnd(int32_t stream_id) {
  // The server's END_STREAM (its trailers) ends a streaming call even while the client still
  // has its side open: the status is known, the rest of the client's messages are not wanted.
  auto it = streams_.find(stream_id);
  if (it == streams_.end() || !it->second.stream) return;
  OnStreamClosed(stream_id, kNoError);
  ResetStream(stream_id, kNoError);
}

void GrpcTransport::OnStreamClosed(int32_t stream_id, uint32_t error_code) {
  auto it = streams_.find(stream_id);
  if (it == streams_.end()) return;  // cancelled by us
  Pending p = std::move(it->second);
  streams_.erase(it);
  stream_of_.erase(p.id);
  const bool partial = p.cutter.buffered() > 0;  // a stream that ended inside a message
  if (p.stream) {
    p.stream->OnStreamEnded();
    Consume(stream_id, p.cutter.Clear());
  }
  Attempt* a = TakeCall(p.id);
  if (!a) return;
  bool not_executed = false;
  Status status;
  a->response_metadata = std::move(p.metadata);
  if (p.too_large) {
    status = Status(StatusCode::kResourceExhausted, "response from " + address() + " exceeds max_body_bytes=" +
                                                        std::to_string(options().max_body_bytes));
  } else if (p.grpc_status >= 0) {
    status = Status(StatusCodeFromInt(p.grpc_status), p.grpc_message);
  } else if (error_code == kRefusedStream || stream_id > goaway_last_stream_) {
    status = Status(StatusCode::kUnavailable, address() + " refused the stream (not processed)");
    not_executed = true;
  } else if (error_code != kNoError) {
    status = Status(StatusCode::kUnavailable, "stream to " + address() + " reset (HTTP/2 error " +
                                                  std::to_string(error_code) + ")");
  } else if (p.http_status != 200) {
    status = Status(grpc::StatusFromHttp(p.http_status), "HTTP status " + std::to_string(p.http_status) + " from " + address());
  } else {
    status = Status(StatusCode::kInternal, "no grpc-status from " + address());
  }
  if (status.ok() && p.stream && partial) {
    status = Status(StatusCode::kInternal, "the stream from " + address() + " ended inside a message");
  } else if (status.ok() && !p.stream) {
    std::string inflated;
    std::string_view message;
    status = grpc::ExtractUnaryMessage(p.body, "identity", options().max_body_bytes, &inflated, &message);
    if (status.ok() && !a->response->ParseFromArray(message.data(), static_cast<int>(message.size()))) {
      status = Status(StatusCode::kInternal, "cannot parse response body as " + a->response->GetTypeName());
    }
  }
  CompleteCall(a, std::move(status), not_executed);
}

void GrpcTransport::OnGoaway(int32_t last_stream_id, uint32_t error_code) {
  goaway_last_stream_ = last_stream_id;
  if (error_code != kNoError && state() != State::kClosed) {
    Close(Status(StatusCode::kUnavailable, address() + " closed the connection (HTTP/2 GOAWAY error " +
                                              std::to_string(error_code) + ")"));
    return;
  }
  StartDraining("HTTP/2 GOAWAY");
}

void GrpcTransport::OnSessionError(std::string detail) {
  Close(Status(StatusCode::kUnavailable, "HTTP/2 error from " + address() + ": " + detail));
}

void GrpcTransport::OnOutputDrained() {
  if (state() != State::kClosed && SessionDone()) Close(Status::Ok());
}

}  // namespace krpc::impl
