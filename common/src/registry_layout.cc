#include "krpc/registry_layout.h"

#include <charconv>

#include "krpc/json.h"

namespace krpc::registry {

std::string NormalizeRoot(std::string_view root) {
  std::string r(root);
  if (r.empty() || r.front() != '/') r.insert(r.begin(), '/');
  while (r.size() > 1 && r.back() == '/') r.pop_back();
  return r;
}

std::string ServicesPath(std::string_view root) {
  const auto r = NormalizeRoot(root);
  return (r == "/" ? "" : r) + "/services";
}

std::string ProvidersPath(std::string_view root, std::string_view service) {
  return ServicesPath(root) + "/" + std::string(service) + "/providers";
}

std::string ProviderPath(std::string_view root, std::string_view service, const Endpoint& endpoint) {
  return ProvidersPath(root, service) + "/" + endpoint.ToString();
}

std::string ProviderInfo::ToJson() const {
  return json::Object()
      .Add("host", endpoint.host)
      .Add("port", unsigned{endpoint.port})
      .Add("weight", weight)
      .Add("zone", zone)
      .Add("version", version)
      .Add("node_id", node_id)
      .Add("started_at", started_at)
      .Add("admin_port", unsigned{admin_port})
      .str();
}

std::optional<ProviderInfo> ProviderInfo::FromJson(std::string_view text, const Endpoint& fallback) {
  ProviderInfo p;
  p.endpoint = fallback;
  if (text.empty()) return p;  // a bare znode: defaults
  auto obj = json::ParseFlatObject(text);
  if (!obj) return std::nullopt;
  auto num = [&](const char* key, auto* out) {
    auto it = obj->find(key);
    if (it == obj->end()) return true;
    auto [ptr, ec] = std::from_chars(it->second.data(), it->second.data() + it->second.size(), *out);
    return ec == std::errc();
  };
  if (auto it = obj->find("host"); it != obj->end() && !it->second.empty()) p.endpoint.host = it->second;
  if (!num("port", &p.endpoint.port) || !num("weight", &p.weight) || !num("started_at", &p.started_at) ||
      !num("admin_port", &p.admin_port)) {
    return std::nullopt;
  }
  if (auto it = obj->find("zone"); it != obj->end()) p.zone = it->second;
  if (auto it = obj->find("version"); it != obj->end()) p.version = it->second;
  if (auto it = obj->find("node_id"); it != obj->end()) p.node_id = it->second;
  if (p.weight < 0) p.weight = 0;
  return p;
}

}  // namespace krpc::registry
