// The registry's layout in ZooKeeper, shared by nodes (writers) and clients (readers):
//   /<root>/services/<package.Service>/providers/<host:port>   ephemeral, data = ProviderInfo JSON
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "krpc/endpoint.h"

namespace krpc::registry {

struct ProviderInfo {
  Endpoint endpoint;
  int weight = 100;
  std::string zone;
  std::string version;
  std::string node_id;
  int64_t started_at = 0;   // unix seconds
  uint16_t admin_port = 0;

  std::string ToJson() const;
  // Parses znode data; the znode's name gives the endpoint when the data lacks it.
  static std::optional<ProviderInfo> FromJson(std::string_view json, const Endpoint& fallback);
  friend bool operator==(const ProviderInfo&, const ProviderInfo&) = default;
};

std::string ServicesPath(std::string_view root);
std::string ProvidersPath(std::string_view root, std::string_view service);
std::string ProviderPath(std::string_view root, std::string_view service, const Endpoint& endpoint);
// "/krpc/" -> "/krpc"; "krpc" -> "/krpc".
std::string NormalizeRoot(std::string_view root);

}  // namespace krpc::registry
