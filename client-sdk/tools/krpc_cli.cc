// krpc: the command-line tool.
//   krpc list   --zk HOSTS [--root /krpc] [--json]          services and providers in ZooKeeper
//   krpc call   --target T METHOD [JSON_REQUEST]             one call, response printed as JSON
//   krpc health --target T [--service NAME]                  krpc.health.v1.Health/Check
//   krpc status --target T [SERVICE]                         the channel's view of the endpoints
//   krpc bench  [krpc-bench flags]                           runs krpc-bench
// Targets: host:port, static://h1:p1,h2:p2, zk://hosts/root.
#include <google/protobuf/descriptor.h>
#include <google/protobuf/dynamic_message.h>
#include <google/protobuf/util/json_util.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "examples/echo.pb.h"
#include "examples/user.pb.h"
#include "krpc/channel.h"
#include "krpc/config.h"
#include "krpc/health.pb.h"
#include "krpc/json.h"
#include "krpc/log.h"
#include "krpc/registry_layout.h"
#include "krpc/zk_client.h"

namespace {
using google::protobuf::DescriptorPool;

struct CliOptions {
  std::string zk;
  std::string root = "/krpc";
  std::string target;
  std::string service;
  bool json = false;
  int timeout_ms = 3000;
  int zk_session_timeout_ms = 10000;
  krpc::ConnectionOptions connection;  // its TLS keys only
  void Register(krpc::OptionSet& o) {
    connection.RegisterTls(o);
    o.AddString("zk", &zk, "ZooKeeper hosts (list)");
    o.AddString("root", &root, "registry root (list)");
    o.AddString("target", &target, "channel target (call, health, status)");
    o.AddString("service", &service, "service name (health, status)");
    o.AddBool("json", &json, "JSON output (list)");
    o.AddInt("timeout_ms", &timeout_ms, 1, 600000, "call deadline");
    o.AddInt("zk_session_timeout_ms", &zk_session_timeout_ms, 1000, 600000, "ZooKeeper session timeout");
  }
};

int Usage() {
  std::fprintf(stderr,
               "usage: krpc list --zk HOSTS [--root /krpc] [--json]\n"
               "       krpc call --target T /package.Service/Method ['{json request}']\n"
               "       krpc health --target T [--service NAME]\n"
               "       krpc status --target T [--service NAME]\n"
               "       krpc bench [krpc-bench flags]\n");
  return 2;
}

int List(const CliOptions& o) {
  if (o.zk.empty()) {
    std::fprintf(stderr, "krpc list: --zk is required\n");
    return 2;
  }
  krpc::ZkClient zk({o.zk, o.zk_session_timeout_ms, ""});
  (void)zk.Start();
  if (!zk.WaitConnected(std::chrono::milliseconds(o.timeout_ms))) {
    std::fprintf(stderr, "krpc list: cannot reach ZooKeeper at %s\n", o.zk.c_str());
    return 1;
  }
  std::vector<std::string> services;
  const krpc::Status rc = zk.GetChildren(krpc::registry::ServicesPath(o.root), false, &services);
  if (!rc.ok() && rc.code() != krpc::StatusCode::kNotFound) {
    std::fprintf(stderr, "krpc list: %s\n", rc.message().c_str());
    return 1;
  }
  std::sort(services.begin(), services.end());
  krpc::json::Array json_rows;
  if (!o.json) std::printf("%-32s %-24s %-6s %-8s %-10s %s\n", "SERVICE", "PROVIDER", "WEIGHT", "ZONE", "ADMIN", "NODE_ID");
  for (const auto& service : services) {
    std::vector<std::string> providers;
    // A service without a providers node (or one removed meanwhile) lists no providers.
    if (!zk.GetChildren(krpc::registry::ProvidersPath(o.root, service), false, &providers).ok()) providers.clear();
    std::sort(providers.begin(), providers.end());
    for (const auto& p : providers) {
      std::string data;
      if (!zk.Get(krpc::registry::ProvidersPath(o.root, service) + "/" + p, false, &data).ok()) continue;  // gone meanwhile
      auto ep = krpc::ParseEndpoint(p);
      auto info = krpc::registry::ProviderInfo::FromJson(data, ep.ok() ? ep.value() : krpc::Endpoint{p, 0});
      if (o.json) {
        json_rows.AddRaw(krpc::json::Object().Add("service", service).Add("provider", p).AddRaw("data", data.empty() ? "{}" : data).str());
      } else if (info) {
        std::printf("%-32s %-24s %-6d %-8s %-10u %s\n", service.c_str(), p.c_str(), info->weight,
                    info->zone.empty() ? "-" : info->zone.c_str(), unsigned{info->admin_port}, info->node_id.c_str());
      }
    }
  }
  if (o.json) std::printf("%s\n", json_rows.str().c_str());
  return 0;
}

std::shared_ptr<krpc::Channel> MakeChannel(const CliOptions& o) {
  if (o.target.empty()) {
    std::fprintf(stderr, "krpc: --target is required\n");
    return nullptr;
  }
  krpc::ChannelOptions co;
  co.timeout_ms = o.timeout_ms;
  co.zk_session_timeout_ms = o.zk_session_timeout_ms;
  co.connection = o.connection;  // defaults but for the TLS keys registered above
  auto ch = krpc::Channel::Create(o.target, co);
  if (!ch.ok()) {
    std::fprintf(stderr, "krpc: %s\n", ch.status().ToString().c_str());
    return nullptr;
  }
  return ch.value();
}

int Call(const CliOptions& o, const std::vector<std::string>& args) {
  if (args.size() < 2 || args.size() > 3) return Usage();
  // Make sure the compiled-in services are in the generated pool.
  (void)krpc::examples::EchoService::descriptor();
  (void)krpc::examples::UserService::descriptor();
  (void)krpc::health::v1::Health::descriptor();
  std::string name = args[1];
  if (!name.empty() && name[0] == '/') name.erase(0, 1);
  const auto slash = name.find('/');
  const auto* service = DescriptorPool::generated_pool()->FindServiceByName(name.substr(0, slash));
  const auto* method = service && slash != std::string::npos ? service->FindMethodByName(name.substr(slash + 1)) : nullptr;
  if (!method) {
    std::fprintf(stderr, "krpc call: unknown method '%s' (known: compiled-in example and health services)\n", args[1].c_str());
    return 2;
  }
  google::protobuf::DynamicMessageFactory factory;
  std::unique_ptr<google::protobuf::Message> req(factory.GetPrototype(method->input_type())->New());
  std::unique_ptr<google::protobuf::Message> resp(factory.GetPrototype(method->output_type())->New());
  if (args.size() == 3) {
    auto st = google::protobuf::util::JsonStringToMessage(args[2], req.get());
    if (!st.ok()) {
      std::fprintf(stderr, "krpc call: bad request JSON: %s\n", st.ToString().c_str());
      return 2;
    }
  }
  auto ch = MakeChannel(o);
  if (!ch) return 2;
  krpc::Controller cntl;
  ch->CallMethod(method, &cntl, req.get(), resp.get(), nullptr);
  if (cntl.Failed()) {
    std::fprintf(stderr, "%s (from %s)\n", cntl.ErrorText().c_str(), cntl.remote().c_str());
    return 1;
  }
  std::string out;
  google::protobuf::util::JsonPrintOptions jo;
  jo.always_print_primitive_fields = true;
  (void)google::protobuf::util::MessageToJsonString(*resp, &out, jo);
  std::printf("%s\n", out.c_str());
  return 0;
}

int Health(const CliOptions& o) {
  auto ch = MakeChannel(o);
  if (!ch) return 2;
  krpc::health::v1::Health_Stub stub(ch.get());
  krpc::health::v1::HealthCheckRequest req;
  req.set_service(o.service);
  krpc::health::v1::HealthCheckResponse resp;
  krpc::Controller cntl;
  stub.Check(&cntl, &req, &resp, nullptr);
  if (cntl.Failed()) {
    std::fprintf(stderr, "%s\n", cntl.ErrorText().c_str());
    return 1;
  }
  std::printf("%s %s\n", cntl.remote().c_str(),
              krpc::health::v1::HealthCheckResponse::ServingStatus_Name(resp.status()).c_str());
  return resp.status() == krpc::health::v1::HealthCheckResponse::SERVING ? 0 : 1;
}

int Status(CliOptions o, const std::vector<std::string>& args) {
  if (args.size() > 1 && o.service.empty()) o.service = args[1];  // krpc status --target T <service>
  auto ch = MakeChannel(o);
  if (!ch) return 2;
  if (!o.service.empty()) {
    if (auto s = ch->WaitForEndpoints(o.service, std::chrono::milliseconds(o.timeout_ms)); !s.ok()) {
      std::fprintf(stderr, "%s\n", s.ToString().c_str());
      return 1;
    }
  }
  // Endpoints connect lazily: a fresh channel shows them "idle" until calls flow. For a
  // long-running process's live view, read its admin port's /status instead.
  std::printf("%-30s %-22s %-10s %-9s %-6s %-9s %-8s %s\n", "SERVICE", "ENDPOINT", "STATE", "BREAKER", "WEIGHT",
              "EWMA_US", "CONNECTS", "FAILURES");
  for (const auto& e : ch->Endpoints()) {
    std::printf("%-30s %-22s %-10s %-9s %-6d %-9.0f %-8llu %llu\n", e.service.empty() ? "*" : e.service.c_str(),
                e.address.c_str(), std::string(ToString(e.state)).c_str(), std::string(ToString(e.breaker)).c_str(), e.weight, e.latency_ewma_us,
                static_cast<unsigned long long>(e.connects), static_cast<unsigned long long>(e.connect_failures));
  }
  return 0;
}

int Bench(int argc, char** argv) {
  const auto self = std::filesystem::read_symlink("/proc/self/exe").parent_path();
  const std::string bench = (self / "krpc-bench").string();
  std::vector<char*> args{const_cast<char*>(bench.c_str())};
  for (int i = 2; i < argc; ++i) args.push_back(argv[i]);
  args.push_back(nullptr);
  ::execv(bench.c_str(), args.data());
  std::fprintf(stderr, "krpc bench: cannot run %s\n", bench.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return Usage();
  const std::string cmd = argv[1];
  if (cmd == "bench") return Bench(argc, argv);
  krpc::log::LogOptions lo;
  lo.level = "warn";
  lo.async = false;
  (void)krpc::log::Setup(lo);
  CliOptions o;
  krpc::OptionSet flags;
  o.Register(flags);
  std::vector<std::string> args;
  if (auto s = flags.Load(argc, argv, krpc::OptionSet::ProcessEnv(), &args); !s.ok()) {
    std::fprintf(stderr, "krpc: %s\n", s.message().c_str());
    return 2;
  }
  if (cmd == "list") return List(o);
  if (cmd == "call") return Call(o, args);
  if (cmd == "health") return Health(o);
  if (cmd == "status") return Status(o, args);
  return Usage();
}
