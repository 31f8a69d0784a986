#include "descriptor_files.h"

#include <google/protobuf/descriptor.pb.h>

#include <algorithm>

namespace krpc::node {

void AddWithDependencies(const google::protobuf::FileDescriptor* file, std::set<std::string>* seen,
                         google::protobuf::RepeatedPtrField<std::string>* out) {
  if (!seen->insert(file->name()).second) return;
  for (int i = 0; i < file->dependency_count(); ++i) AddWithDependencies(file->dependency(i), seen, out);
  google::protobuf::FileDescriptorProto proto;
  file->CopyTo(&proto);
  proto.SerializeToString(out->Add());
}

const google::protobuf::FileDescriptor* FileOf(const std::string& symbol, const ServiceList& services) {
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


const google::protobuf::FileDescriptor* FileNamed(const std::string& name, const ServiceList& services) {
  for (const auto* s : services) {
    if (const auto* f = s->file()->pool()->FindFileByName(name)) return f;
  }
  return nullptr;
}

}  // namespace krpc::node
