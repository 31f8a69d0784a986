// A gRPC request's headers: read one by one (OnHeader), then screened as a whole before any
// body (OnRequestHeaders): what they alone decide is answered at once.
#include "grpc_server_connection.h"
#include "krpc/codec/frame.h"
#include "krpc/net/grpc_wire.h"

namespace krpc::node {
namespace grpc = net::grpc;

bool GrpcServerConnection::OnHeader(int32_t stream_id, std::string_view name, std::string_view value) {
  auto it = streams_.find(stream_id);
  if (it == streams_.end()) return true;
  Request& r = it->second;
  r.header_bytes += name.size() + value.size() + 32;
  if (r.header_bytes > codec::kMaxHeaderBytes) return false;  // resets the stream
  if (name == ":path") {
    r.path = value;
  } else if (name == ":method") {
    r.http_method = value;
  } else if (name == "content-type") {
    r.content_type = value;
  } else if (name == "grpc-encoding") {
    r.encoding = value;
  } else if (name == "grpc-timeout") {
    r.timeout = value;
  } else if (!grpc::IsReservedHeader(name)) {
    if (grpc::IsBinaryHeader(name)) {
      if (auto bytes = grpc::Base64Decode(value)) r.metadata[std::string(name)] = std::move(*bytes);
    } else {
      r.metadata[std::string(name)] = std::string(value);
    }
  }
  return true;
}

// What the headers alone decide is answered at once, before the body: whatever the client
// sends next (a stream it never half-closes included) is discarded.
void GrpcServerConnection::OnRequestHeaders(int32_t stream_id) {
  auto it = streams_.find(stream_id);
  if (it == streams_.end()) return;
  Request& r = it->second;
  if (r.answered || r.call) return;
  r.answered = true;
  if (r.http_method != "POST") {
    SubmitResponse(stream_id, {{":status", "405"}}, {}, {});
    return;
  }
  if (!r.content_type.starts_with("application/grpc")) {
    SubmitResponse(stream_id, {{":status", "415"}}, {}, {});
    return;
  }
  if (!r.timeout.empty()) {
    const auto t = grpc::ParseTimeout(r.timeout);
    if (!t) return RespondStatus(stream_id, StatusCode::kInternal, "malformed grpc-timeout '" + r.timeout + "'");
    r.timeout_us = std::max<uint64_t>(1, static_cast<uint64_t>(t->count()));
  }
  if (r.path == kHealthWatch) {  // a stream the node serves itself, once its request is here
    r.watch = true;
    r.answered = false;
    return;
  }
  if (RefuseEarly(static_cast<uint64_t>(stream_id), r.path, last_recv())) return;
  if (const MethodEntry* e = shared_->methods.Find(r.path); e && e->streaming()) return StartStream(stream_id, r);
  r.answered = false;  // the call goes on once its body is here
}

}  // namespace krpc::node
