// RegistryPublisher: keeps a node's services registered in ZooKeeper, one ephemeral znode per
// service at /<root>/services/<service>/providers/<host:port>. Registers only when started
// (after the server listens); retries with backoff while ZooKeeper is down; re-creates its
// znodes after a session expiry; replaces a znode left by an older session of the same
// address; watches its own znodes and re-creates one deleted from outside. Deregister()
// removes the znodes first thing in a drain. Destruction never waits for the ZooKeeper
// thread: tasks still queued there hold the publisher's state weakly and find it gone.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "krpc/registry_layout.h"
#include "krpc/zk_client.h"

namespace krpc {

class OptionSet;

struct RegistryOptions {
  std::string root = "/krpc";
  std::string advertise_host;   // host clients dial; empty = the machine's hostname
  int weight = 100;
  std::string zone;
  std::string version;
  std::string node_id;          // empty = advertise host:port
  int deregister_grace_ms = 2000;  // after removing znodes, wait this long before GOAWAY
  // Registers zk_root, advertise_host, weight, zone, version, node_id, deregister_grace_ms.
  void Register(OptionSet& options);
};

class RegistryPublisher {
 public:
  RegistryPublisher(std::shared_ptr<ZkClient> zk, std::string root, registry::ProviderInfo self,
                    std::vector<std::string> services);
  ~RegistryPublisher();

  // Starts registering in the background (call once the server listens).
  void Start();
  // Deletes the znodes and stops re-registering; waits at most `timeout`. True if deleted.
  bool Deregister(std::chrono::milliseconds timeout);

  bool registered() const;
  // "registering" | "registered" | "retrying" | "waiting_for_zookeeper" | "deregistered"
  std::string state() const;
  // Sessions in which the whole set was registered (1 at start, +1 after each new session).
  uint64_t registrations() const;
  // Own znodes found deleted from outside and re-created.
  uint64_t repairs() const;
  const registry::ProviderInfo& self() const;

 private:
  struct Core;
  std::shared_ptr<Core> core_;
};

}  // namespace krpc
