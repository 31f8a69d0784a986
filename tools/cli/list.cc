// krpc list, krpc describe.
#include <algorithm>
#include <cstdio>

#include "cli.h"
#include "krpc/controller.h"
#include "krpc/json.h"
#include "krpc/reflection.pb.h"
#include "krpc/registry_read.h"
#include "krpc/zk_client.h"
#include "schema.h"

namespace krpc::cli {
namespace {

// Services and their providers from ZooKeeper.
int ListFromZooKeeper(const Flags& f, const std::string& hosts, const std::string& root) {
  ZkClient zk({hosts, f.zk_session_timeout_ms, ""});
  (void)zk.Start();
  if (!zk.WaitConnected(std::chrono::milliseconds(f.channel.timeout_ms))) {
    std::fprintf(stderr, "krpc list: cannot reach ZooKeeper at %s\n", hosts.c_str());
    return kExitOther;
  }
  std::vector<std::string> services;
  const krpc::Status rc = zk.GetChildren(registry::ServicesPath(root), false, &services);
  if (!rc.ok() && rc.code() != StatusCode::kNotFound) {
    std::fprintf(stderr, "krpc list: %s\n", rc.message().c_str());
    return kExitOther;
  }
  std::sort(services.begin(), services.end());
  json::Array rows;
  if (f.format == "text") std::printf("%-32s %-24s %-6s %-8s %-10s %s\n", "SERVICE", "PROVIDER", "WEIGHT", "ZONE", "ADMIN", "NODE_ID");
  for (const auto& service : services) {
    for (const auto& p : registry::ReadProviders(zk, root, service)) {
      if (f.format == "json") {
        rows.AddRaw(json::Object().Add("service", service).Add("provider", p.name).AddRaw("data", p.data.empty() ? "{}" : p.data).str());
      } else if (p.info) {
        std::printf("%-32s %-24s %-6d %-8s %-10u %s\n", service.c_str(), p.name.c_str(), p.info->weight,
                    p.info->zone.empty() ? "-" : p.info->zone.c_str(), unsigned{p.info->admin_port}, p.info->node_id.c_str());
      }
    }
  }
  if (f.format == "json") std::printf("%s\n", rows.str().c_str());
  return 0;
}

// The services a node serves, from its reflection service.
int ListFromTarget(const Flags& f) {
  auto ch = MakeChannel(f, "list");
  if (!ch) return kExitUsage;
  reflection::v1::Reflection_Stub stub(ch.get());
  reflection::v1::ListServicesRequest req;
  reflection::v1::ListServicesResponse resp;
  Controller cntl;
  stub.ListServices(&cntl, &req, &resp, nullptr);
  if (cntl.Failed()) {
    std::fprintf(stderr, "krpc list: %s\n", cntl.ErrorText().c_str());
    return ExitFor(cntl.code());
  }
  json::Array names;
  for (const auto& s : resp.services()) {
    if (f.format == "json") {
      names.Add(s);
    } else {
      std::printf("%s\n", s.c_str());
    }
  }
  if (f.format == "json") std::printf("%s\n", names.str().c_str());
  return 0;
}

}  // namespace

int List(Flags& flags, const std::vector<std::string>& args) {
  if (!args.empty()) {
    std::fprintf(stderr, "krpc list: unexpected argument '%s' (see krpc list --help)\n", args[0].c_str());
    return kExitUsage;
  }
  if (!flags.zk.empty()) return ListFromZooKeeper(flags, flags.zk, flags.root);
  if (flags.target.rfind("zk://", 0) == 0) {  // zk://hosts/root: the registry itself
    const std::string rest = flags.target.substr(5);
    const auto slash = rest.find('/');
    return ListFromZooKeeper(flags, rest.substr(0, slash), slash == std::string::npos ? "/krpc" : rest.substr(slash));
  }
  if (flags.target.empty() && !flags.protos.empty()) {  // the services of the --proto files
    auto schema = LoadSchema(flags, nullptr, "");
    if (!schema.ok()) {
      std::fprintf(stderr, "krpc list: %s\n", schema.status().message().c_str());
      return kExitUsage;
    }
    for (const auto& s : (*schema)->FileServices()) std::printf("%s\n", s.c_str());
    return 0;
  }
  if (flags.target.empty()) {
    std::fprintf(stderr, "krpc list: give --target (a node, or zk://hosts/root) or --zk HOSTS\n");
    return kExitUsage;
  }
  return ListFromTarget(flags);
}

int Describe(Flags& flags, const std::vector<std::string>& args) {
  if (args.size() != 1) {
    std::fprintf(stderr, "krpc describe: give one SYMBOL: a service, a method or a message type\n");
    return kExitUsage;
  }
  std::shared_ptr<Channel> ch;
  if (flags.protos.empty()) {
    ch = MakeChannel(flags, "describe");
    if (!ch) return kExitUsage;
  }
  auto schema = LoadSchema(flags, ch.get(), args[0]);
  if (!schema.ok()) {
    std::fprintf(stderr, "krpc describe: %s\n", schema.status().ToString().c_str());
    return schema.status().code() == StatusCode::kInvalidArgument ? kExitUsage : ExitFor(schema.status().code());
  }
  const std::string text = (*schema)->Describe(args[0]);
  if (text.empty()) {
    std::fprintf(stderr, "krpc describe: no service, method or message named '%s' (schemas from %s)\n",
                 args[0].c_str(), (*schema)->source());
    return kExitUsage;
  }
  std::printf("%s", text.c_str());
  return 0;
}

}  // namespace krpc::cli
