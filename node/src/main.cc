// krpc-node: hosts the example services (EchoService, UserService, gRPC's interop TestService)
// and the health and reflection services, and registers them in ZooKeeper when zk_hosts is
// set. It is a NodeRunner (krpc/node_runner.h) with one key of its own, `services`.
// Configuration: defaults < -c FILE < KRPC_* environment < --flags (docs/configuration.md).
// SIGTERM/SIGINT: deregister, wait deregister_grace_ms, GOAWAY, drain in-flight calls, exit 0.
#include <cstdio>
#include <string>

#include "example_services.h"
#include "krpc/config.h"
#include "krpc/node_runner.h"

int main(int argc, char** argv) {
  krpc::NodeRunner node("krpc-node");
  std::string services = "echo,user,interop";
  node.options().AddString("services", &services,
                           "example services to host: any of echo,user,interop (comma separated; interop is "
                           "gRPC's grpc.testing.TestService)");
  if (auto s = node.Configure(argc, argv); !s.ok()) {
    if (s.code() == krpc::StatusCode::kCancelled) return 0;
    std::fprintf(stderr, "krpc-node: configuration error: %s\n", s.message().c_str());
    return 2;
  }
  auto examples = krpc::examples::MakeExampleServices(services);
  if (!examples.ok()) {
    std::fprintf(stderr, "krpc-node: configuration error: %s\n", examples.status().message().c_str());
    return 2;
  }
  for (auto& s : examples.value()) node.AddService(s);
  return node.Serve();
}
