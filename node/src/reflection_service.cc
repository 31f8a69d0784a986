#include "reflection_service.h"

#include <algorithm>
#include <set>

#include "descriptor_files.h"

#include "krpc/server_controller.h"

namespace krpc::node {

void ReflectionServiceImpl::ListServices(google::protobuf::RpcController*, const krpc::reflection::v1::ListServicesRequest*,
                                         krpc::reflection::v1::ListServicesResponse* response,
                                         google::protobuf::Closure* done) {
  std::vector<std::string> names;
  for (const auto* s : services_()) names.push_back(s->full_name());
  std::sort(names.begin(), names.end());
  for (auto& n : names) response->add_services(std::move(n));
  done->Run();
}

void ReflectionServiceImpl::FileContainingSymbol(google::protobuf::RpcController* controller,
                                                 const krpc::reflection::v1::FileContainingSymbolRequest* request,
                                                 krpc::reflection::v1::FileDescriptorResponse* response,
                                                 google::protobuf::Closure* done) {
  const auto* file = FileOf(request->symbol(), services_());
  if (!file) {
    ServerController::From(controller)
        ->SetStatus(StatusCode::kNotFound, "no served service, method or type named '" + request->symbol() + "'");
  } else {
    std::set<std::string> seen;
    AddWithDependencies(file, &seen, response->mutable_file_descriptor_proto());
  }
  done->Run();
}

}  // namespace krpc::node
