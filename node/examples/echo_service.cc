#include "echo_service.h"

#include "krpc/server_controller.h"

namespace krpc::examples {

void EchoServiceImpl::Echo(google::protobuf::RpcController* controller, const EchoRequest* request,
                           EchoResponse* response, google::protobuf::Closure* done) {
  response->set_payload(request->payload());
  // Request metadata under "x-echo-" comes back as response metadata (to see metadata both ways).
  auto* c = ServerController::From(controller);
  for (const auto& [key, value] : c->metadata()) {
    if (key.starts_with("x-echo-")) c->SetResponseMetadata(key, value);
  }
  done->Run();
}

}  // namespace krpc::examples
