// The health service every node serves (krpc.health.v1.Health/Check): SERVING while the
// server takes calls, NOT_SERVING once it drains; SERVICE_UNKNOWN for a service it lacks.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "krpc/health.pb.h"

namespace krpc::node {

// The health of `service` ("" = the node as a whole) on a node that is `serving` and hosts
// `hosted`: SERVING, NOT_SERVING, or SERVICE_UNKNOWN for a service it lacks. Check and the
// gRPC connection's Watch both answer with it.
krpc::health::v1::HealthCheckResponse::ServingStatus HealthOf(const std::string& service, bool serving,
                                                              const std::vector<std::string>& hosted);

class HealthServiceImpl final : public krpc::health::v1::Health {
 public:
  // `serving` says whether the node takes calls; `services` lists what it hosts.
  HealthServiceImpl(std::function<bool()> serving, std::function<std::vector<std::string>()> services)
      : serving_(std::move(serving)), services_(std::move(services)) {}

  void Check(google::protobuf::RpcController* controller, const krpc::health::v1::HealthCheckRequest* request,
             krpc::health::v1::HealthCheckResponse* response, google::protobuf::Closure* done) override;

 private:
  std::function<bool()> serving_;
  std::function<std::vector<std::string>()> services_;
};

}  // namespace krpc::node
