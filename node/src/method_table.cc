#include "method_table.h"

#include <algorithm>

namespace krpc::node {

Status MethodTable::Add(google::protobuf::Service* service) {
  const auto* desc = service->GetDescriptor();
  if (std::find(services_.begin(), services_.end(), desc->full_name()) != services_.end()) {
    return {StatusCode::kAlreadyExists, "service " + desc->full_name() + " is already added"};
  }
  for (int i = 0; i < desc->method_count(); ++i) {
    const auto* m = desc->method(i);
    MethodEntry e;
    e.service = service;
    e.method = m;
    e.request_prototype = &service->GetRequestPrototype(m);
    e.response_prototype = &service->GetResponsePrototype(m);
    e.service_name = desc->full_name();
    e.method_name = m->name();
    e.full_name = "/" + e.service_name + "/" + e.method_name;
    methods_.emplace(e.full_name, std::move(e));
  }
  services_.push_back(desc->full_name());
  return Status::Ok();
}

const MethodEntry* MethodTable::Find(std::string_view full_name) const {
  auto it = methods_.find(full_name);
  return it == methods_.end() ? nullptr : &it->second;
}

std::vector<std::string> MethodTable::Methods() const {
  std::vector<std::string> out;
  for (const auto& [name, e] : methods_) out.push_back(name);
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> MethodTable::Services() const { return services_; }

}  // namespace krpc::node
