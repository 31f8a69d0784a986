// NodeApp: a krpc node as a whole: the RPC server with the services given to it, the admin
// port and metrics, and the registry publisher when ZooKeeper is configured. Start() brings it up in order (listen,
// then register); Drain() takes it down in order (deregister, grace, GOAWAY and drain).
#pragma once

#include <atomic>

#include <memory>
#include <string>
#include <vector>

#include "krpc/admin_server.h"
#include "krpc/fault_injector.h"
#include "krpc/metrics.h"
#include "krpc/log.h"
#include "krpc/registry_publisher.h"
#include "krpc/server.h"
#include "krpc/zk_client.h"

namespace krpc {

struct NodeConfig {
  ServerOptions server;
  ZkOptions zk;
  RegistryOptions registry;
  log::LogOptions log;
  AdminOptions admin;
  bool metrics_enabled = true;
  bool enable_fault_injection = false;
  std::string service_aliases;  // "alias=service,..." (see Server::AddServiceAlias)
  void Register(OptionSet& options);
};

class NodeApp {
 public:
  explicit NodeApp(NodeConfig config);
  ~NodeApp();

  // Adds a service: not owned (must outlive the node), or owned. Before Start().
  void AddService(google::protobuf::Service* service);
  void AddService(std::shared_ptr<google::protobuf::Service> service);

  Status Start();
  // Deregisters, waits the grace period, then drains the server. Returns true if every
  // in-flight call finished within drain_timeout_ms.
  bool Drain();

  Server& server() { return *server_; }
  AdminServer* admin() { return admin_.get(); }
  Metrics& metrics() { return metrics_; }
  FaultInjector* faults() { return faults_.get(); }
  // 200 only when listening, not draining, and registered (when a registry is configured).
  bool ready(std::string* why) const;
  std::string StatusJson() const;
  // The console's registry view: this node's znodes and the providers ZooKeeper lists for its
  // services (read now; empty while the session is down).
  std::string RegistryJson() const;
  // The services registered in ZooKeeper: all but the health and reflection services.
  std::vector<std::string> RegisteredServices() const;
  RegistryPublisher* publisher() { return publisher_.get(); }
  ZkClient* zk() { return zk_.get(); }
  const NodeConfig& config() const { return config_; }
  // The address published in ZooKeeper.
  Endpoint advertised() const;

 private:
  Status AddServices();
  Status StartAdmin();
  std::vector<prometheus::MetricFamily> CollectNode() const;

  NodeConfig config_;
  std::vector<google::protobuf::Service*> services_;
  std::vector<std::shared_ptr<google::protobuf::Service>> owned_;
  Metrics metrics_;
  std::shared_ptr<FaultInjector> faults_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<AdminServer> admin_;
  std::shared_ptr<void> collector_;
  // Set (release) once Start() finished, after zk_ and publisher_: the admin thread, which
  // starts earlier, reads them only after seeing it (acquire). See Registry().
  std::atomic<bool> started_{false};
  std::shared_ptr<ZkClient> zk_;
  std::unique_ptr<RegistryPublisher> publisher_;
  // The publisher once Start() finished (null before, or without a registry); any thread.
  const RegistryPublisher* Registry() const { return started_.load(std::memory_order_acquire) ? publisher_.get() : nullptr; }
  std::shared_ptr<spdlog::logger> log_ = log::Get("node");
};

}  // namespace krpc
