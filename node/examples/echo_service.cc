#include "echo_service.h"

namespace krpc::examples {

void EchoServiceImpl::Echo(google::protobuf::RpcController*, const EchoRequest* request, EchoResponse* response,
                           google::protobuf::Closure* done) {
  response->set_payload(request->payload());
  done->Run();
}

}  // namespace krpc::examples
