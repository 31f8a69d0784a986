// RuntimeAccess: what channels use of a ClientRuntime that is not public API (its I/O pool,
// ZooKeeper sessions, discovery and channel list). Internal header.
#pragma once

#include <memory>
#include <string>

#include "krpc/client_runtime.h"

namespace krpc::impl {

class RuntimeAccess {
 public:
  static IoPool& Io(ClientRuntime& rt) { return rt.io(); }
  static std::shared_ptr<ZkDiscovery> Discovery(ClientRuntime& rt, const ZkOptions& options, const std::string& root) {
    return rt.Discovery(options, root);
  }
  static void Track(ClientRuntime& rt, const std::shared_ptr<Channel>& channel) { rt.Track(channel); }
};

}  // namespace krpc::impl
