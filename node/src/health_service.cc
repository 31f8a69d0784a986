#include "health_service.h"

#include <algorithm>

#include "krpc/server_controller.h"

namespace krpc::node {
using krpc::health::v1::HealthCheckResponse;

void HealthServiceImpl::Check(google::protobuf::RpcController* controller,
                              const krpc::health::v1::HealthCheckRequest* request, HealthCheckResponse* response,
                              google::protobuf::Closure* done) {
  const auto services = services_();
  if (!request->service().empty() &&
      std::find(services.begin(), services.end(), request->service()) == services.end()) {
    auto* c = ServerController::From(controller);
    if (c->method().starts_with("/grpc.health.v1.")) {
      // gRPC's health service answers NOT_FOUND for a service it does not know.
      c->SetStatus(StatusCode::kNotFound, "unknown service '" + request->service() + "'");
    } else {
      response->set_status(HealthCheckResponse::SERVICE_UNKNOWN);
    }
  } else {
    response->set_status(serving_() ? HealthCheckResponse::SERVING : HealthCheckResponse::NOT_SERVING);
  }
  done->Run();
}

}  // namespace krpc::node
