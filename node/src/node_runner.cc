#include "krpc/node_runner.h"

#include <google/protobuf/service.h>
#include <pthread.h>

#include <csignal>
#include <cstdio>
#include <optional>

#include "krpc/config.h"
#include "node_app.h"

namespace krpc {

namespace {
// SIGTERM and SIGINT drain and stop; SIGHUP re-reads the TLS certificate files.
sigset_t StopSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  return set;
}
}  // namespace

struct NodeRunner::Impl {
  std::string program;
  NodeConfig config;
  OptionSet flags;
  std::vector<std::shared_ptr<google::protobuf::Service>> owned;
  std::vector<google::protobuf::Service*> borrowed;
  std::optional<NodeApp> app;
  bool configured = false;
};

NodeRunner::NodeRunner(std::string program) : impl_(std::make_unique<Impl>()) {
  // Blocked in this thread and so in every thread started later; Serve() waits for them.
  const sigset_t stop = StopSignals();
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
  impl_->program = std::move(program);
  impl_->config.admin.port = 9100;
  impl_->config.Register(impl_->flags);
}

NodeRunner::~NodeRunner() {
  impl_->app.reset();
  log::Shutdown();
}

NodeRunner& NodeRunner::AddService(std::shared_ptr<google::protobuf::Service> service) {
  impl_->owned.push_back(std::move(service));
  return *this;
}

NodeRunner& NodeRunner::AddService(google::protobuf::Service* service) {
  impl_->borrowed.push_back(service);
  return *this;
}

OptionSet& NodeRunner::options() { return impl_->flags; }

Status NodeRunner::Configure(int argc, char** argv) {
  if (OptionSet::WantsHelp(argc, argv)) {
    std::printf("usage: %s [-c FILE] [--key=value ...]\n\n%s", impl_->program.c_str(), impl_->flags.Help().c_str());
    return Status(StatusCode::kCancelled, "--help");
  }
  if (Status s = impl_->flags.Load(argc, argv, OptionSet::ProcessEnv()); !s.ok()) return s;
  (void)log::Setup(impl_->config.log);
  impl_->configured = true;
  return Status::Ok();
}

Status NodeRunner::Start() {
  if (impl_->app) return Status(StatusCode::kFailedPrecondition, "already started");
  impl_->app.emplace(impl_->config);
  for (auto& s : impl_->owned) impl_->app->AddService(s);
  for (auto* s : impl_->borrowed) impl_->app->AddService(s);
  return impl_->app->Start();
}

int NodeRunner::Serve() {
  auto log = log::Get("node");
  if (Status s = Start(); !s.ok()) {
    log->critical("{}: cannot start: {}", impl_->program, s.message());
    return s.code() == StatusCode::kInvalidArgument ? 2 : 1;
  }
  const sigset_t stop = StopSignals();
  int sig = 0;
  for (;;) {
    sigwait(&stop, &sig);
    if (sig != SIGHUP) break;
    const Status reloaded = impl_->app->server().ReloadTls();
    log->info("received SIGHUP: TLS reload: {}", reloaded.ok() ? "done" : reloaded.message());
  }
  log->info("received signal {}: draining", sig);
  const bool clean = Drain();
  log->info("stopped{}", clean ? "" : " (drain timed out)");
  return 0;
}

int NodeRunner::Run(int argc, char** argv) {
  if (Status s = Configure(argc, argv); !s.ok()) {
    if (s.code() == StatusCode::kCancelled) return 0;
    std::fprintf(stderr, "%s: configuration error: %s\n", impl_->program.c_str(), s.message().c_str());
    return 2;
  }
  return Serve();
}

bool NodeRunner::Drain() { return impl_->app ? impl_->app->Drain() : true; }

uint16_t NodeRunner::port() const { return impl_->app ? impl_->app->server().port() : 0; }

uint16_t NodeRunner::admin_port() const {
  return impl_->app && impl_->app->admin() ? impl_->app->admin()->port() : 0;
}

}  // namespace krpc
