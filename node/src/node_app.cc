#include "node_app.h"

#include <algorithm>

#include <unistd.h>

#include <ctime>
#include <thread>

#include <google/protobuf/service.h>

#include "krpc/config.h"
#include "krpc/console.h"
#include "krpc/json.h"
#include "krpc/registry_read.h"
#include "krpc/server_metrics.h"

namespace krpc {

void NodeConfig::Register(OptionSet& o) {
  server.Register(o);
  zk.Register(o);
  registry.Register(o);
  log.Register(o);
  admin.Register(o);
  o.AddBool("metrics_enabled", &metrics_enabled, "record Prometheus metrics for RPCs");
  o.AddBool("enable_fault_injection", &enable_fault_injection,
            "serve POST/DELETE /admin/fault on the admin port (tests and demos only)");
  o.AddString("service_aliases", &service_aliases,
              "serve hosted services under other names too: alias=service,... (e.g. a renamed package)");
}

NodeApp::NodeApp(NodeConfig config) : config_(std::move(config)), server_(std::make_unique<Server>(config_.server)) {}

NodeApp::~NodeApp() {
  if (admin_) admin_->Stop();
  publisher_.reset();
  if (zk_) zk_->Stop();
}

bool NodeApp::ready(std::string* why) const {
  const RegistryPublisher* pub = Registry();
  if (!started_.load(std::memory_order_acquire)) {
    *why = "not started";
  } else if (server_->draining()) {
    *why = "draining";
  } else if (pub && !pub->registered()) {
    *why = "not registered (" + pub->state() + ")";
  } else {
    *why = "ready";
    return true;
  }
  return false;
}

std::vector<std::string> NodeApp::RegisteredServices() const {
  std::vector<std::string> services;
  for (const auto& s : server_->Services()) {
    if (std::find(std::begin(kBuiltInServices), std::end(kBuiltInServices), s) == std::end(kBuiltInServices)) {
      services.push_back(s);  // the built-in ones are served by every node
    }
  }
  return services;
}

std::string NodeApp::RegistryJson() const {
  const RegistryPublisher* pub = Registry();
  json::Array znodes, providers;
  if (pub) {
    const std::string self = pub->self().endpoint.ToString();
    for (const auto& s : RegisteredServices()) znodes.Add(registry::ProvidersPath(config_.registry.root, s) + "/" + self);
  }
  if (pub && zk_ && zk_->connected()) {
    for (const auto& service : RegisteredServices()) {
      for (const auto& p : registry::ReadProviders(*zk_, config_.registry.root, service)) {
        if (!p.info) continue;
        providers.AddRaw(json::Object()
                             .Add("service", service)
                             .Add("provider", p.name)
                             .Add("weight", p.info->weight)
                             .Add("zone", p.info->zone)
                             .Add("node_id", p.info->node_id)
                             .str());
      }
    }
  }
  return json::Object().AddRaw("znodes", znodes.str()).AddRaw("providers", providers.str()).str() + "\n";
}

std::string NodeApp::StatusJson() const {
  // Every server statistic, grouped as declared (KRPC_SERVER_STATS): "connections", "calls", "tls".
  std::vector<std::pair<std::string_view, json::Object>> groups;
  server_->stats().ForEach([&](const StatView& v) {
    auto it = std::find_if(groups.begin(), groups.end(), [&](const auto& g) { return g.first == v.group; });
    if (it == groups.end()) it = groups.insert(groups.end(), {v.group, json::Object()});
    it->second.Add(v.key, v.value);
  });
  json::Array services;
  for (const auto& s : server_->Services()) services.Add(s);
  std::string why;
  const bool is_ready = ready(&why);
  json::Object registry;
  const RegistryPublisher* pub = Registry();
  registry.Add("enabled", !config_.zk.hosts.empty());
  if (pub) {
    registry.Add("state", pub->state())
        .Add("session", zk_->state())
        .Add("registrations", pub->registrations())
        .Add("expirations", zk_->expirations())
        .Add("advertised", pub->self().endpoint.ToString());
  }
  json::Object result;
  result.Add("ready", is_ready)
      .Add("reason", why)
      .Add("draining", server_->draining())
      .Add("port", unsigned{server_->port()})
      .Add("admin_port", static_cast<unsigned>(admin_ ? admin_->port() : 0))
      .AddRaw("services", services.str());
  for (const auto& [group, object] : groups) result.AddRaw(group, object.str());
  return result.AddRaw("registry", registry.str()).Add("fault_injection", faults_ != nullptr).str() + "\n";
}

std::vector<prometheus::MetricFamily> NodeApp::CollectNode() const {
  using prometheus::MetricType;
  std::vector<prometheus::MetricFamily> out;
  out.push_back(FamilyBuilder("krpc_server_draining", "1 while the node drains", MetricType::Gauge)
                    .Add({}, server_->draining() ? 1 : 0).Build());
  std::string why;
  out.push_back(FamilyBuilder("krpc_server_ready", "1 when /readyz answers 200", MetricType::Gauge)
                    .Add({}, ready(&why) ? 1 : 0).Build());
  if (const RegistryPublisher* pub = Registry()) {
    out.push_back(FamilyBuilder("krpc_registry_session_connected", "1 while the ZooKeeper session is connected", MetricType::Gauge)
                      .Add({}, zk_->connected() ? 1 : 0).Build());
    out.push_back(FamilyBuilder("krpc_registry_registered", "1 while every service of the node is registered", MetricType::Gauge)
                      .Add({}, pub->registered() ? 1 : 0).Build());
    out.push_back(FamilyBuilder("krpc_registry_registrations_total", "Sessions in which the node registered its services (re-registrations after expiry add one)", MetricType::Counter)
                      .Add({}, static_cast<double>(pub->registrations())).Build());
    out.push_back(FamilyBuilder("krpc_registry_session_expirations_total", "ZooKeeper session expirations seen", MetricType::Counter)
                      .Add({}, static_cast<double>(zk_->expirations())).Build());
  }
  return out;
}

Status NodeApp::StartAdmin() {
  if (!config_.admin.enabled) return Status::Ok();
  admin_ = std::make_unique<AdminServer>(config_.admin);
  admin_->Handle("GET", "/metrics", [this](const HttpRequest&) {
    return HttpResponse{200, "text/plain; version=0.0.4; charset=utf-8", metrics_.Serialize()};
  });
  admin_->Handle("GET", "/healthz", [](const HttpRequest&) { return HttpResponse{200, "text/plain; charset=utf-8", "ok\n"}; });
  admin_->Handle("GET", "/readyz", [this](const HttpRequest&) {
    std::string why;
    const bool ok = ready(&why);
    return HttpResponse{ok ? 200 : 503, "text/plain; charset=utf-8", why + "\n"};
  });
  admin_->Handle("GET", "/status", [this](const HttpRequest&) {
    return HttpResponse{200, "application/json", StatusJson()};
  });
  admin_->Handle("GET", "/registry", [this](const HttpRequest&) {
    return HttpResponse{200, "application/json", RegistryJson()};
  });
  ConsoleOptions console;
  console.title = "krpc-node " + (config_.registry.node_id.empty() ? std::to_string(config_.server.port) : config_.registry.node_id);
  InstallConsole(*admin_, metrics_, console);
  if (faults_) {
    admin_->Handle("POST", "/admin/fault", [this](const HttpRequest& req) {
      auto spec = FaultSpec::FromJson(req.body);
      if (!spec.ok()) return HttpResponse{400, "text/plain; charset=utf-8", spec.status().message() + "\n"};
      faults_->Set(spec.value());
      log_->warn("fault injection set: {}", spec->ToJson());
      return HttpResponse{200, "application/json", spec->ToJson() + "\n"};
    });
    admin_->Handle("DELETE", "/admin/fault", [this](const HttpRequest&) {
      faults_->Clear();
      log_->warn("fault injection cleared");
      return HttpResponse{200, "text/plain; charset=utf-8", "cleared\n"};
    });
    admin_->Handle("GET", "/admin/fault", [this](const HttpRequest&) {
      json::Array list;
      for (const auto& f : faults_->List()) list.AddRaw(f.ToJson());
      return HttpResponse{200, "application/json", list.str() + "\n"};
    });
  }
  return admin_->Start();
}

void NodeApp::AddService(google::protobuf::Service* service) { services_.push_back(service); }

void NodeApp::AddService(std::shared_ptr<google::protobuf::Service> service) {
  services_.push_back(service.get());
  owned_.push_back(std::move(service));
}

Status NodeApp::AddServices() {
  for (auto* s : services_) {
    if (Status st = server_->AddService(s); !st.ok()) return st;
  }
  std::string_view rest = config_.service_aliases;
  while (!rest.empty()) {
    const auto comma = rest.find(',');
    const std::string_view item = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    if (item.empty()) continue;
    const auto eq = item.find('=');
    Status st = eq == std::string_view::npos
                    ? Status(StatusCode::kInvalidArgument, "expected alias=service")
                    : server_->AddServiceAlias(std::string(item.substr(0, eq)), std::string(item.substr(eq + 1)));
    if (!st.ok()) {
      return {StatusCode::kInvalidArgument, "service_aliases: '" + std::string(item) + "': " + st.message()};
    }
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
  if (Status s = config_.zk.Validate(); !s.ok()) return s;  // before serving anything
  if (Status s = AddServices(); !s.ok()) return s;
  if (config_.metrics_enabled) server_->SetObserver(std::make_shared<ServerMetrics>(metrics_, server_.get()));
  if (config_.enable_fault_injection) {
    faults_ = std::make_shared<FaultInjector>();
    server_->SetInterceptor(faults_);
    log_->warn("fault injection is enabled (POST/DELETE /admin/fault)");
  }
  collector_ = metrics_.AddCollector([this] { return CollectNode(); });
  if (Status s = server_->Start(); !s.ok()) return s;
  if (Status s = StartAdmin(); !s.ok()) return s;
  if (config_.zk.hosts.empty()) {
    log_->info("no zk_hosts: serving without registration");
    started_.store(true, std::memory_order_release);
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
  self.admin_port = admin_ ? admin_->port() : 0;
  publisher_ = std::make_unique<RegistryPublisher>(zk_, config_.registry.root, self, RegisteredServices());
  publisher_->Start();  // in the background: a ZooKeeper that is down never stops serving
  started_.store(true, std::memory_order_release);
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
