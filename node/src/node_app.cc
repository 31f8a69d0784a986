#include "node_app.h"

#include <unistd.h>

#include <ctime>
#include <thread>

#include "krpc/config.h"

namespace krpc {

void NodeConfig::Register(OptionSet& o) {
  server.Register(o);
  zk.Register(o);
  registry.Register(o);
  log.Register(o);
  o.AddString("services", &services, "example services to host: any of echo,user (comma separated)");
}

NodeApp::NodeApp(NodeConfig config) : config_(std::move(config)), server_(std::make_unique<Server>(config_.server)) {}

NodeApp::~NodeApp() {
  publisher_.reset();
  if (zk_) zk_->Stop();
}

Status NodeApp::AddServices() {
  for (std::string_view rest = config_.services; !rest.empty();) {
    const auto name = rest.substr(0, rest.find(','));
    rest.remove_prefix(std::min(rest.size(), name.size() + 1));
    Status s;
    if (name == "echo") {
      s = server_->AddService(&echo_);
    } else if (name == "user") {
      s = server_->AddService(&user_);
    } else {
      s = Status(StatusCode::kInvalidArgument, "bad value for 'services': unknown service '" + std::string(name) + "'");
    }
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

Endpoint NodeApp::advertised() const {
  std::string host = config_.registry.advertise_host;
  if (host.empty()) {
    char name[256] = {};
    ::gethostname(name, sizeof name - 1);
    host = name;
  }
  return Endpoint{host, server_->port()};
}

Status NodeApp::Start() {
  if (Status s = AddServices(); !s.ok()) return s;
  if (Status s = server_->Start(); !s.ok()) return s;
  if (config_.zk.hosts.empty()) {
    log_->info("no zk_hosts: serving without registration");
    return Status::Ok();
  }
  zk_ = std::make_shared<ZkClient>(config_.zk);
  if (Status s = zk_->Start(); !s.ok()) return s;
  registry::ProviderInfo self;
  self.endpoint = advertised();
  self.weight = config_.registry.weight;
  self.zone = config_.registry.zone;
  self.version = config_.registry.version;
  self.node_id = config_.registry.node_id.empty() ? self.endpoint.ToString() : config_.registry.node_id;
  self.started_at = static_cast<int64_t>(std::time(nullptr));
  std::vector<std::string> services;
  for (const auto& s : server_->Services()) {
    if (s != "krpc.health.v1.Health") services.push_back(s);
  }
  publisher_ = std::make_unique<RegistryPublisher>(zk_, config_.registry.root, self, services);
  publisher_->Start();  // in the background: a ZooKeeper that is down never stops serving
  return Status::Ok();
}

bool NodeApp::Drain() {
  if (publisher_) {
    publisher_->Deregister(std::chrono::milliseconds(2000));
    if (config_.registry.deregister_grace_ms > 0) {
      log_->info("deregistered; waiting {} ms before GOAWAY", config_.registry.deregister_grace_ms);
      std::this_thread::sleep_for(std::chrono::milliseconds(config_.registry.deregister_grace_ms));
    }
  }
  return server_->Shutdown();
}

}  // namespace krpc
