#include "krpc/channel.h"

#include <google/protobuf/empty.pb.h>

#include <thread>

#include "channel_impl.h"
#include "client_stream_core.h"
#include "krpc/controller.h"
#include "krpc/impl/deadline.h"
#include "krpc/zk_client.h"
#include "runtime_access.h"

namespace krpc {

std::string_view ToString(EndpointState s) {
  switch (s) {
    case EndpointState::kIdle: return "idle";
    case EndpointState::kConnecting: return "connecting";
    case EndpointState::kReady: return "ready";
    case EndpointState::kBackoff: return "backoff";
    case EndpointState::kShutdown: return "shutdown";
  }
  return "unknown";
}

std::string_view ToString(BreakerState s) {
  switch (s) {
    case BreakerState::kClosed: return "closed";
    case BreakerState::kHalfOpen: return "half_open";
    case BreakerState::kOpen: return "open";
  }
  return "unknown";
}

Channel::Channel(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

Channel::~Channel() { Shutdown(); }

namespace {
// "zk://h1:p1,h2:p2/root" -> hosts, root.
bool ParseZkTarget(std::string_view t, std::string* hosts, std::string* root) {
  t.remove_prefix(5);
  const auto slash = t.find('/');
  *hosts = std::string(t.substr(0, slash));
  *root = slash == std::string_view::npos ? "/krpc" : std::string(t.substr(slash));
  return !hosts->empty() && ParseEndpointList(*hosts).ok();
}

// The resolver a target names: zk://hosts/root (ZooKeeper discovery, shared through the
// runtime), or host:port / static://h1:p1,h2:p2 (a fixed list).
StatusOr<std::unique_ptr<impl::Resolver>> ResolverFor(const std::string& target, const ChannelOptions& options,
                                                      ClientRuntime& runtime) {
  std::string_view t = target;
  if (t.substr(0, 5) == "zk://") {
    std::string hosts, root;
    if (!ParseZkTarget(t, &hosts, &root)) {
      return Status(StatusCode::kInvalidArgument, "bad target '" + target + "': expected zk://host:port[,host:port]/root");
    }
    ZkOptions zk;
    zk.hosts = hosts;
    zk.session_timeout_ms = options.zk_session_timeout_ms;
    if (Status s = zk.Validate(); !s.ok()) return Status(StatusCode::kInvalidArgument, "target '" + target + "': " + s.message());
    return std::unique_ptr<impl::Resolver>(std::make_unique<impl::ZkResolver>(impl::RuntimeAccess::Discovery(runtime, zk, root)));
  }
  if (t.substr(0, 9) == "static://") t.remove_prefix(9);
  if (t.find("://") != std::string_view::npos) {
    return Status(StatusCode::kInvalidArgument,
                  "unsupported target '" + target + "' (expected host:port, static://h1:p1,h2:p2 or zk://hosts/root)");
  }
  auto endpoints = ParseEndpointList(t);
  if (!endpoints.ok()) return Status(StatusCode::kInvalidArgument, "target '" + target + "': " + endpoints.status().message());
  impl::Resolver::Providers providers;
  for (auto& ep : endpoints.value()) {
    registry::ProviderInfo p;
    p.endpoint = ep;
    providers.push_back(std::move(p));
  }
  return std::unique_ptr<impl::Resolver>(std::make_unique<impl::StaticResolver>(std::move(providers)));
}
}  // namespace

StatusOr<std::shared_ptr<Channel>> Channel::Create(const std::string& target, ChannelOptions options,
                                                   std::shared_ptr<ClientRuntime> runtime) {
  if (!runtime) runtime = ClientRuntime::Create(1);
  auto resolver = ResolverFor(target, options, *runtime);
  if (!resolver.ok()) return resolver.status();
  auto impl = Impl::Create(target, options, runtime, std::move(resolver).value());
  if (!impl.ok()) return impl.status();
  std::shared_ptr<Channel> ch(new Channel(std::move(impl).value()));
  impl::RuntimeAccess::Track(*runtime, ch);
  return ch;
}

void Channel::CallMethod(const google::protobuf::MethodDescriptor* method, google::protobuf::RpcController* controller,
                         const google::protobuf::Message* request, google::protobuf::Message* response,
                         google::protobuf::Closure* done) {
  auto& call = static_cast<Controller*>(controller)->data();
  call.ResetCall();
  call.method = method;
  call.request = request;
  call.response = response;
  call.done = done;
  call.start = impl::CallData::Clock::now();
  if (!call.deadline_set) {
    const auto timeout = call.timeout_set ? call.timeout : std::chrono::milliseconds(impl_->options().timeout_ms);
    call.deadline = impl::SaturatingDeadline(call.start, timeout);
  }
  impl_->Call(&call);
  if (!done) call.Wait();
}

namespace {
// A streaming call's `done`: its end goes to the stream (then this frees itself).
class StreamDone final : public google::protobuf::Closure {
 public:
  StreamDone(std::shared_ptr<impl::ClientStreamCore> core, Controller* controller)
      : core_(std::move(core)), controller_(controller) {}
  void Run() override {
    auto core = std::move(core_);
    const Status status = controller_->status();
    delete this;
    core->OnCallDone(status);
  }

 private:
  std::shared_ptr<impl::ClientStreamCore> core_;
  Controller* controller_;
};
}  // namespace

std::shared_ptr<ClientStream> Channel::OpenStream(const google::protobuf::MethodDescriptor* method,
                                                  Controller* controller) {
  static const google::protobuf::Empty kNoMessage;  // streams send theirs through the core
  auto core = std::make_shared<impl::ClientStreamCore>();
  core->cancel_call = [controller] { controller->StartCancel(); };
  auto& call = controller->data();
  call.ResetCall();
  call.method = method;
  call.request = &kNoMessage;
  call.response = &core->unused_response;
  call.stream = core;
  call.done = new StreamDone(core, controller);
  call.start = impl::CallData::Clock::now();
  if (!call.deadline_set) {
    call.deadline = call.timeout_set ? impl::SaturatingDeadline(call.start, call.timeout)
                                     : impl::CallData::Clock::time_point::max();
  }
  impl_->Call(&call);
  return core;
}

Status Channel::WaitForEndpoints(const std::string& service, std::chrono::milliseconds timeout) {
  auto route = impl_->Resolve(service);
  const auto until = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto set = route->endpoints();
    if (set && !set->subchannels.empty()) return Status::Ok();
    if (std::chrono::steady_clock::now() >= until) {
      return Status(StatusCode::kDeadlineExceeded, "no endpoints of " + service + " known after " +
                                                       std::to_string(timeout.count()) + " ms");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

std::vector<EndpointInfo> Channel::Endpoints() const { return impl_->Endpoints(); }
const std::string& Channel::target() const { return impl_->target(); }
ChannelStats Channel::stats() const { return impl_->Stats(); }
void Channel::Shutdown() { impl_->Shutdown(); }

}  // namespace krpc
