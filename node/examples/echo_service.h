// EchoService: returns the request's bytes unchanged. Used by benchmarks and tests.
#pragma once

#include "examples/echo.pb.h"

namespace krpc::examples {

class EchoServiceImpl final : public EchoService {
 public:
  void Echo(google::protobuf::RpcController* controller, const EchoRequest* request, EchoResponse* response,
            google::protobuf::Closure* done) override;
};

}  // namespace krpc::examples
