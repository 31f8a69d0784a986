// The example services by name, for krpc-node's `services` key and for tests.
#pragma once

#include <memory>
#include <string_view>
#include <vector>

#include "krpc/status.h"

namespace google::protobuf {
class Service;
}

namespace krpc::examples {

// "echo,user,interop" -> an EchoServiceImpl, a UserServiceImpl and an InteropServiceImpl
// (grpc.testing.TestService). An unknown name is an error naming
// the key ('services').
StatusOr<std::vector<std::shared_ptr<google::protobuf::Service>>> MakeExampleServices(std::string_view list);

}  // namespace krpc::examples
