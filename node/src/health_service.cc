#include "health_service.h"

#include <algorithm>

namespace krpc::node {
using krpc::health::v1::HealthCheckResponse;

void HealthServiceImpl::Check(google::protobuf::RpcController*, const krpc::health::v1::HealthCheckRequest* request,
                              HealthCheckResponse* response, google::protobuf::Closure* done) {
  const auto services = services_();
  if (!request->service().empty() &&
      std::find(services.begin(), services.end(), request->service()) == services.end()) {
    response->set_status(HealthCheckResponse::SERVICE_UNKNOWN);
  } else {
    response->set_status(serving_() ? HealthCheckResponse::SERVING : HealthCheckResponse::NOT_SERVING);
  }
  done->Run();
}

}  // namespace krpc::node
