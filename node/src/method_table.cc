#include "method_table.h"

#include <algorithm>

namespace krpc::node {

Status MethodTable::Add(google::protobuf::Service* service) {
  const auto* desc = service->GetDescriptor();
  if (std::find(services_.begin(), services_.end(), desc->full_name()) != services_.end()) {
    return {StatusCode::kAlreadyExists, "service " + desc->full_name() + " is already added"};
  }
  auto* streamer = dynamic_cast<StreamService*>(service);
  for (int i = 0; i < desc->method_count(); ++i) {
    const auto* m = desc->method(i);
    if ((m->client_streaming() || m->server_streaming()) && streamer == nullptr) {
      return {StatusCode::kInvalidArgument, "method " + m->full_name() +
                                                " streams, but its service does not implement krpc::StreamService "
                                                "(use the base protoc-gen-krpc generates)"};
    }
  }
  for (int i = 0; i < desc->method_count(); ++i) {
    const auto* m = desc->method(i);
    MethodEntry e;
    e.service = service;
    e.kind = m->client_streaming() ? (m->server_streaming() ? MethodKind::kBidi : MethodKind::kClientStream)
                                   : (m->server_streaming() ? MethodKind::kServerStream : MethodKind::kUnary);
    if (e.kind != MethodKind::kUnary) e.streamer = streamer;
    e.method = m;
    e.request_prototype = &service->GetRequestPrototype(m);
    e.response_prototype = &service->GetResponsePrototype(m);
    e.service_name = desc->full_name();
    e.method_name = m->name();
    e.full_name = "/" + e.service_name + "/" + e.method_name;
    methods_.emplace(e.full_name, std::move(e));
  }
  services_.push_back(desc->full_name());
  descriptors_.push_back(desc);
  return Status::Ok();
}

Status MethodTable::AddAlias(const std::string& alias, const std::string& service) {
  std::vector<MethodEntry> copies;
  for (const auto& [name, e] : methods_) {
    if (e.service_name != service) continue;
    MethodEntry c = e;
    c.service_name = alias;
    c.full_name = "/" + alias + "/" + c.method_name;
    if (methods_.contains(c.full_name)) return {StatusCode::kAlreadyExists, "method " + c.full_name + " exists"};
    copies.push_back(std::move(c));
  }
  if (copies.empty()) return {StatusCode::kNotFound, "no service " + service + " to alias"};
  for (auto& c : copies) methods_.emplace(c.full_name, std::move(c));
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
