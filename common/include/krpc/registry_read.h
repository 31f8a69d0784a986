// Reading the registry once, without watches: what `krpc list` prints and what a node's console
// shows as "providers it sees". (Discovery, which watches, is the client SDK's ZkDiscovery.)
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "krpc/registry_layout.h"

namespace krpc {
class ZkClient;

namespace registry {

// One provider znode: its name (host:port), its data as stored, and that data parsed (nullopt
// when it is not a provider record).
struct ProviderRecord {
  std::string name;
  std::string data;
  std::optional<ProviderInfo> info;
};

// The providers of `service` under `root`, sorted by name. A service without a providers node
// lists none; a znode removed between the listing and its read is left out.
std::vector<ProviderRecord> ReadProviders(ZkClient& zk, const std::string& root, const std::string& service);

}  // namespace registry
}  // namespace krpc
