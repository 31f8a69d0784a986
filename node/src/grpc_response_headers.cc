// What a gRPC response's header blocks carry: the status (grpc-status, grpc-message), the
// handler's response and trailing metadata, a refusal's retry pushback.
#include "grpc_server_connection.h"
#include "krpc/net/grpc_wire.h"
#include "server_call.h"

namespace krpc::node {
namespace grpc = net::grpc;

void GrpcServerConnection::AppendStatus(net::Headers& h, StatusCode code, std::string_view message) {
  h.emplace_back("grpc-status", std::to_string(static_cast<int>(code)));
  if (!message.empty()) h.emplace_back("grpc-message", grpc::PercentEncode(message));
}

void GrpcServerConnection::AppendTrailing(net::Headers& h, const ServerController& call) {
  for (const auto& [k, v] : call.trailing_metadata()) h.emplace_back(k, grpc::HeaderValue(k, v));
}

void GrpcServerConnection::Reject(uint64_t call_id, StatusCode code, std::string message, int pushback_ms) {
  RespondStatus(static_cast<int32_t>(call_id), code, message, pushback_ms);
}

void GrpcServerConnection::RespondStatus(int32_t stream_id, StatusCode code, std::string_view message, int pushback_ms) {
  net::Headers h{{":status", "200"}, {"content-type", "application/grpc"}};
  AppendStatus(h, code, message);
  // gRPC's retry pushback (A6): clients wait this long before retrying; negative: no retry.
  if (pushback_ms != kNoPushback) h.emplace_back("grpc-retry-pushback-ms", std::to_string(pushback_ms));
  SubmitResponse(stream_id, h, {}, {});
}

net::Headers GrpcServerConnection::ResponseHeaders(const ServerCall& call) {
  net::Headers headers{{":status", "200"}, {"content-type", "application/grpc"},
                       {"grpc-accept-encoding", "identity,gzip"}};
  for (const auto& [k, v] : call.response_metadata()) headers.emplace_back(k, grpc::HeaderValue(k, v));
  return headers;
}

}  // namespace krpc::node
