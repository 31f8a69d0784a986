// krpc-node: hosts the example services (EchoService, UserService) and the health service.
// Configuration: defaults < -c FILE < KRPC_* environment < --flags (see docs/configuration.md).
// SIGTERM/SIGINT drain gracefully: GOAWAY, finish in-flight calls, exit 0.
#include <csignal>
#include <cstdio>
#include <string>
#include <thread>

#include "echo_service.h"
#include "krpc/config.h"
#include "krpc/log.h"
#include "krpc/server.h"
#include "user_service.h"

namespace {

struct NodeOptions {
  krpc::ServerOptions server;
  krpc::log::LogOptions log;
  std::string services = "echo,user";

  void Register(krpc::OptionSet& o) {
    server.Register(o);
    log.Register(o);
    o.AddString("services", &services, "example services to host: any of echo,user (comma separated)");
  }
};

int WaitForSignal() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  int sig = 0;
  sigwait(&set, &sig);
  return sig;
}

}  // namespace

int main(int argc, char** argv) {
  // Block the stop signals in every thread; the main thread waits for them with sigwait.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  NodeOptions options;
  krpc::OptionSet flags;
  options.Register(flags);
  if (argc > 1 && (std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h")) {
    std::fprintf(stdout, "usage: krpc-node [-c FILE] [--key=value ...]\n\n%s", flags.Help().c_str());
    return 0;
  }
  if (auto s = flags.Load(argc, argv, krpc::OptionSet::ProcessEnv()); !s.ok()) {
    std::fprintf(stderr, "krpc-node: %s\n", s.message().c_str());
    return 2;
  }
  (void)krpc::log::Setup(options.log);
  auto log = krpc::log::Get("node");

  krpc::Server server(options.server);
  krpc::examples::EchoServiceImpl echo;
  krpc::examples::UserServiceImpl user;
  for (std::string_view rest = options.services; !rest.empty();) {
    const auto name = rest.substr(0, rest.find(','));
    rest.remove_prefix(std::min(rest.size(), name.size() + 1));
    krpc::Status s;
    if (name == "echo") s = server.AddService(&echo);
    else if (name == "user") s = server.AddService(&user);
    else s = krpc::Status(krpc::StatusCode::kInvalidArgument, "bad value for 'services': unknown service '" + std::string(name) + "'");
    if (!s.ok()) {
      std::fprintf(stderr, "krpc-node: %s\n", s.message().c_str());
      return 2;
    }
  }
  if (auto s = server.Start(); !s.ok()) {
    log->critical("{}", s.message());
    krpc::log::Shutdown();
    return 1;
  }
  const int sig = WaitForSignal();
  log->info("received signal {}: draining (timeout {} ms)", sig, options.server.drain_timeout_ms);
  const bool clean = server.Shutdown();
  log->info("stopped{}", clean ? "" : " (drain timed out)");
  krpc::log::Shutdown();
  return 0;
}
