#include "reflection_service.h"

#include <google/protobuf/descriptor.pb.h>

#include <algorithm>
#include <set>

#include "krpc/server_controller.h"

namespace krpc::node {
namespace {

// Appends `file` after everything it imports, each file once.
void AddWithDependencies(const google::protobuf::FileDescriptor* file, std::set<std::string>* seen,
                         krpc::reflection::v1::FileDescriptorResponse* out) {
  if (!seen->insert(file->name()).second) return;
  for (int i = 0; i < file->dependency_count(); ++i) AddWithDependencies(file->dependency(i), seen, out);
  google::protobuf::FileDescriptorProto proto;
  file->CopyTo(&proto);
  proto.SerializeToString(out->add_file_descriptor_proto());
}

// The served file that defines `symbol` (a service, one of its methods, or a message type its
// file or imports define), or null.
const google::protobuf::FileDescriptor* FileOf(const std::string& symbol,
                                               const std::vector<const google::protobuf::ServiceDescriptor*>& services) {
  std::string name = symbol;
  std::replace(name.begin(), name.end(), '/', '.');
  if (!name.empty() && name[0] == '.') name.erase(0, 1);
  for (const auto* s : services) {
    if (s->full_name() == name) return s->file();
    for (int i = 0; i < s->method_count(); ++i) {
      if (s->method(i)->full_name() == name) return s->file();
    }
  }
  for (const auto* s : services) {  // a message type, looked up in the service's pool
    if (const auto* m = s->file()->pool()->FindMessageTypeByName(name)) return m->file();
    if (const auto* e = s->file()->pool()->FindEnumTypeByName(name)) return e->file();
  }
  return nullptr;
}

}  // namespace

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
    AddWithDependencies(file, &seen, response);
  }
  done->Run();
}

}  // namespace krpc::node
