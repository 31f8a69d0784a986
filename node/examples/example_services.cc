#include "example_services.h"

#include "echo_service.h"
#include "interop_service.h"
#include "user_service.h"

namespace krpc::examples {

StatusOr<std::vector<std::shared_ptr<google::protobuf::Service>>> MakeExampleServices(std::string_view list) {
  std::vector<std::shared_ptr<google::protobuf::Service>> out;
  for (std::string_view rest = list; !rest.empty();) {
    const auto name = rest.substr(0, rest.find(','));
    rest.remove_prefix(std::min(rest.size(), name.size() + 1));
    if (name == "echo") {
      out.push_back(std::make_shared<EchoServiceImpl>());
    } else if (name == "user") {
      out.push_back(std::make_shared<UserServiceImpl>());
    } else if (name == "interop") {
      out.push_back(std::make_shared<InteropServiceImpl>());
    } else {
      return Status(StatusCode::kInvalidArgument, "bad value for 'services': unknown service '" + std::string(name) + "'");
    }
  }
  return out;
}

}  // namespace krpc::examples
