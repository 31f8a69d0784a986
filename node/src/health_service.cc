#include "health_service.h"

#include <algorithm>

#include "krpc/server_controller.h"

namespace krpc::node {
using krpc::health::v1::HealthCheckResponse;

HealthCheckResponse::ServingStatus HealthOf(const std::string& service, bool serving,
                                            const std::vector<std::string>& hosted) {
  if (!service.empty() && std::find(hosted.begin(), hosted.end(), service) == hosted.end()) {
    return HealthCheckResponse::SERVICE_UNKNOWN;
  }
  return serving ? HealthCheckResponse::SERVING : HealthCheckResponse::NOT_SERVING;
}

void HealthServiceImpl::Check(google::protobuf::RpcController* controller,
                              const krpc::health::v1::HealthCheckRequest* request, HealthCheckResponse* response,
                              google::protobuf::Closure* done) {
  const auto status = HealthOf(request->service(), serving_(), services_());
  auto* c = ServerController::From(controller);
  if (status == HealthCheckResponse::SERVICE_UNKNOWN && c->method().starts_with("/grpc.health.v1.")) {
    // gRPC's health service answers NOT_FOUND for a service it does not know.
    c->SetStatus(StatusCode::kNotFound, "unknown service '" + request->service() + "'");
  } else {
    response->set_status(status);
  }
  done->Run();
}

}  // namespace krpc::node
