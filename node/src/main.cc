// krpc-node: hosts the example services (EchoService, UserService) and the health service,
// and registers them in ZooKeeper when zk_hosts is set.
// Configuration: defaults < -c FILE < KRPC_* environment < --flags (docs/configuration.md).
// SIGTERM/SIGINT: deregister, wait deregister_grace_ms, GOAWAY, drain in-flight calls, exit 0.
#include <csignal>
#include <cstdio>
#include <string>

#include "krpc/config.h"
#include "node_app.h"

namespace {
sigset_t StopSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  return set;
}
}  // namespace

int main(int argc, char** argv) {
  // Block the stop signals in every thread; the main thread waits for them with sigwait.
  const sigset_t stop = StopSignals();
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  krpc::NodeConfig config;
  config.admin.port = 9100;
  krpc::OptionSet flags;
  config.Register(flags);
  if (argc > 1 && (std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h")) {
    std::printf("usage: krpc-node [-c FILE] [--key=value ...]\n\n%s", flags.Help().c_str());
    return 0;
  }
  if (auto s = flags.Load(argc, argv, krpc::OptionSet::ProcessEnv()); !s.ok()) {
    std::fprintf(stderr, "krpc-node: configuration error: %s\n", s.message().c_str());
    return 2;
  }
  (void)krpc::log::Setup(config.log);
  int code = 0;
  {
    krpc::NodeApp app(config);
    if (auto s = app.Start(); !s.ok()) {
      krpc::log::Get("node")->critical("cannot start: {}", s.message());
      code = s.code() == krpc::StatusCode::kInvalidArgument ? 2 : 1;
    } else {
      int sig = 0;
      sigwait(&stop, &sig);
      krpc::log::Get("node")->info("received signal {}: draining", sig);
      const bool clean = app.Drain();
      krpc::log::Get("node")->info("stopped{}", clean ? "" : " (drain timed out)");
    }
  }
  krpc::log::Shutdown();
  return code;
}
