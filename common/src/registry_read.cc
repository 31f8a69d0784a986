#include "krpc/registry_read.h"

#include <algorithm>

#include "krpc/endpoint.h"
#include "krpc/zk_client.h"

namespace krpc::registry {

std::vector<ProviderRecord> ReadProviders(ZkClient& zk, const std::string& root, const std::string& service) {
  const std::string dir = ProvidersPath(root, service);
  std::vector<std::string> children;
  if (!zk.GetChildren(dir, false, &children).ok()) return {};
  std::sort(children.begin(), children.end());
  std::vector<ProviderRecord> out;
  for (auto& name : children) {
    std::string data;
    if (!zk.Get(dir + "/" + name, false, &data).ok()) continue;  // gone meanwhile
    auto ep = ParseEndpoint(name);
    auto info = ProviderInfo::FromJson(data, ep.ok() ? ep.value() : Endpoint{name, 0});
    out.push_back({std::move(name), std::move(data), std::move(info)});
  }
  return out;
}

}  // namespace krpc::registry
