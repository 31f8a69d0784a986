// NodeApp: a krpc node as a whole: the RPC server with the example services, and the
// registry publisher when ZooKeeper is configured. Start() brings it up in order (listen,
// then register); Drain() takes it down in order (deregister, grace, GOAWAY and drain).
#pragma once

#include <memory>
#include <string>

#include "echo_service.h"
#include "krpc/log.h"
#include "krpc/registry_publisher.h"
#include "krpc/server.h"
#include "krpc/zk_client.h"
#include "user_service.h"

namespace krpc {

struct NodeConfig {
  ServerOptions server;
  ZkOptions zk;
  RegistryOptions registry;
  log::LogOptions log;
  std::string services = "echo,user";
  void Register(OptionSet& options);
};

class NodeApp {
 public:
  explicit NodeApp(NodeConfig config);
  ~NodeApp();

  Status Start();
  // Deregisters, waits the grace period, then drains the server. Returns true if every
  // in-flight call finished within drain_timeout_ms.
  bool Drain();

  Server& server() { return *server_; }
  RegistryPublisher* publisher() { return publisher_.get(); }
  ZkClient* zk() { return zk_.get(); }
  const NodeConfig& config() const { return config_; }
  // The address published in ZooKeeper.
  Endpoint advertised() const;

 private:
  Status AddServices();

  NodeConfig config_;
  examples::EchoServiceImpl echo_;
  examples::UserServiceImpl user_;
  std::unique_ptr<Server> server_;
  std::shared_ptr<ZkClient> zk_;
  std::unique_ptr<RegistryPublisher> publisher_;
  std::shared_ptr<spdlog::logger> log_ = log::Get("node");
};

}  // namespace krpc
