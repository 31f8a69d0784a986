// grpc.health.v1.Health/Watch on a gRPC connection: a server stream (gRPC's health protocol)
// that sends the node's health for a service at once and again when it changes. The node's
// only change is its drain: NOT_SERVING, then the stream ends UNAVAILABLE, so clients that
// balance on Watch (gRPC's client-side health checking) stop picking the node and the drain
// does not wait for the stream. At most two messages per stream: nothing to bound.
#include "grpc_server_connection.h"
#include "health_service.h"
#include "krpc/health.pb.h"
#include "krpc/impl/thread_check.h"
#include "krpc/net/grpc_wire.h"

namespace krpc::node {
namespace grpc = net::grpc;
using krpc::health::v1::HealthCheckResponse;

void GrpcServerConnection::StartWatch(int32_t stream_id, Request& r) {
  KRPC_ASSERT_IN_LOOP(InLoop());
  r.answered = true;
  krpc::health::v1::HealthCheckRequest request;
  const Status st = ParseBody(r, &request);
  if (!st.ok()) return RespondStatus(stream_id, st.code(), st.message());
  if (!OpenResponse(stream_id, {{":status", "200"}, {"content-type", "application/grpc"},
                                {"grpc-accept-encoding", "identity,gzip"}})) {
    return;
  }
  watches_[stream_id] = request.service();
  if (!SendHealth(stream_id, request.service())) return;
  if (shared_->draining.load(std::memory_order_acquire)) EndWatches();  // drain began before it
}

bool GrpcServerConnection::SendHealth(int32_t stream_id, const std::string& service) {
  // gRPC's health protocol: an unknown service is SERVICE_UNKNOWN and the call goes on (the
  // service may appear later).
  HealthCheckResponse response;
  response.set_status(HealthOf(service, !shared_->draining.load(std::memory_order_acquire), shared_->methods.Services()));
  return SendData(stream_id, grpc::FramedMessage(response, response.ByteSizeLong()));
}

void GrpcServerConnection::EndWatches() {
  for (const auto& [stream_id, service] : std::exchange(watches_, {})) {
    SendHealth(stream_id, service);  // NOT_SERVING now
    net::Headers trailers;
    AppendStatus(trailers, StatusCode::kUnavailable, "the node is draining");
    CloseResponse(stream_id, std::move(trailers));
  }
}

}  // namespace krpc::node
