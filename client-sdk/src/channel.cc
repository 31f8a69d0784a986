#include "krpc/channel.h"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <thread>

#include "channel_impl.h"
#include "krpc/config.h"
#include "krpc/impl/io_pool.h"
#include "krpc/zk_client.h"

namespace krpc {
namespace asio = boost::asio;

void ChannelOptions::Register(OptionSet& o) {
  o.AddInt("rpc_timeout_ms", &timeout_ms, 0, 3600000, "default deadline of a call, covering all attempts (0 = none)");
  o.AddInt("connect_timeout_ms", &connect_timeout_ms, 1, 600000, "TCP connect timeout");
  o.AddUint("max_body_bytes", &max_body_bytes, 1024, codec::kHardMaxBodyBytes, "largest request/response body");
  o.AddInt("heartbeat_interval_ms", &heartbeat_interval_ms, 10, 3600000, "PING after this long without sending");
  o.AddInt("heartbeat_miss_limit", &heartbeat_miss_limit, 1, 100, "close after interval*(limit+1) without receiving");
  o.AddInt("reconnect_backoff_initial_ms", &reconnect_backoff_initial_ms, 1, 600000, "first reconnect delay");
  o.AddDouble("reconnect_backoff_multiplier", &reconnect_backoff_multiplier, 1.0, 10.0, "delay growth per failure");
  o.AddDouble("reconnect_backoff_jitter", &reconnect_backoff_jitter, 0.0, 1.0, "random spread of each delay");
  o.AddInt("reconnect_backoff_max_ms", &reconnect_backoff_max_ms, 1, 3600000, "largest reconnect delay");
  o.AddInt("zk_session_timeout_ms", &zk_session_timeout_ms, 1000, 600000, "ZooKeeper session timeout (zk:// targets)");
}

impl::TransportOptions Channel::Impl::transport_options() const {
  impl::TransportOptions t;
  t.connect_timeout = std::chrono::milliseconds(options.connect_timeout_ms);
  t.heartbeat_interval = std::chrono::milliseconds(options.heartbeat_interval_ms);
  t.heartbeat_miss_limit = options.heartbeat_miss_limit;
  t.max_body_bytes = options.max_body_bytes;
  return t;
}

impl::BackoffOptions Channel::Impl::backoff_options() const {
  impl::BackoffOptions b;
  b.initial = std::chrono::milliseconds(options.reconnect_backoff_initial_ms);
  b.multiplier = options.reconnect_backoff_multiplier;
  b.jitter = options.reconnect_backoff_jitter;
  b.max = std::chrono::milliseconds(options.reconnect_backoff_max_ms);
  return b;
}

void Channel::Impl::UpdateEndpoints(Route& route, const std::vector<registry::ProviderInfo>& providers) {
  std::vector<std::pair<impl::CallData*, uint64_t>> waiting;
  std::shared_ptr<const EndpointSet> old;
  {
    std::lock_guard lock(route.mu);
    old = route.endpoints.load();
    auto next = std::make_shared<EndpointSet>();
    for (const auto& p : providers) {
      std::shared_ptr<impl::Subchannel> keep;
      if (old) {
        for (const auto& s : old->subchannels) {
          if (s->endpoint() == p.endpoint) keep = s;
        }
      }
      if (!keep) {
        keep = std::make_shared<impl::Subchannel>(runtime->io().Next().get_executor(), p.endpoint,
                                                  transport_options(), backoff_options());
      }
      next->subchannels.push_back(std::move(keep));
    }
    route.endpoints.store(next);
    route.resolved.store(true);
    waiting.swap(route.waiting);
    if (old) {
      for (const auto& s : old->subchannels) {
        if (std::find(next->subchannels.begin(), next->subchannels.end(), s) == next->subchannels.end()) s->Shutdown();
      }
      // A changed endpoint set is news: endpoints that stay are worth a fresh try at once.
      for (const auto& s : next->subchannels) s->ResetBackoff();
    }
  }
  for (auto& [call, seq] : waiting) StartAttempt(call);
}

void Channel::Impl::WaitForFirstList(Route& route, impl::CallData* call) {
  uint64_t seq;
  {
    std::lock_guard lock(route.mu);
    if (route.resolved.load()) {
      seq = 0;
    } else {
      seq = route.next_wait++;
      route.waiting.emplace_back(call, seq);
    }
  }
  if (seq == 0) {
    StartAttempt(call);
    return;
  }
  if (call->deadline == impl::CallData::Clock::time_point::max()) return;
  // Rare path (first calls of a service): one timer per waiting call bounds the wait.
  auto timer = std::make_shared<asio::steady_timer>(runtime->io().Next(), call->deadline);
  std::weak_ptr<Channel::Impl> weak = shared_from_this();
  const std::string service = route.service;
  timer->async_wait([weak, timer, call, seq, service](const boost::system::error_code&) {
    auto self = weak.lock();
    if (!self) return;
    auto r = self->RouteForService(service);
    {
      std::lock_guard lock(r->mu);
      auto it = std::find_if(r->waiting.begin(), r->waiting.end(), [&](auto& w) { return w.second == seq; });
      if (it == r->waiting.end()) return;
      r->waiting.erase(it);
    }
    call->Finish(Status(StatusCode::kDeadlineExceeded,
                        "no provider list for " + service + " from ZooKeeper before the deadline"));
  });
}

std::shared_ptr<Route> Channel::Impl::RouteForService(const std::string& service) {
  if (static_route) return static_route;
  if (auto map = routes.load(std::memory_order_acquire)) {
    if (auto it = map->find(service); it != map->end()) return it->second;
  }
  std::lock_guard lock(routes_mu);
  auto map = routes.load();
  if (map) {
    if (auto it = map->find(service); it != map->end()) return it->second;
  }
  auto route = std::make_shared<Route>();
  route->service = service;
  using RouteMap = std::map<std::string, std::shared_ptr<Route>>;
  auto next = std::make_shared<RouteMap>(map ? *map : RouteMap{});
  (*next)[service] = route;
  routes.store(next);
  std::weak_ptr<Channel::Impl> weak = shared_from_this();
  std::weak_ptr<Route> weak_route = route;
  route->subscription = discovery->Subscribe(service, [weak, weak_route](const auto& providers) {
    auto self = weak.lock();
    auto r = weak_route.lock();
    if (self && r && !self->shut_down.load()) self->UpdateEndpoints(*r, providers);
  });
  return route;
}

Route* Channel::Impl::RouteFor(const google::protobuf::MethodDescriptor* method) {
  if (static_route) return static_route.get();
  return RouteForService(method->service()->full_name()).get();
}

std::shared_ptr<impl::Subchannel> Channel::Impl::Pick(Route& route, impl::CallData*) {
  auto set = route.endpoints.load(std::memory_order_acquire);
  if (!set || set->subchannels.empty()) return nullptr;
  const auto n = set->subchannels.size();
  return set->subchannels[route.rr.fetch_add(1, std::memory_order_relaxed) % n];
}

void Channel::Impl::StartAttempt(impl::CallData* call) {
  Route* route = RouteFor(call->method);
  if (!route->resolved.load(std::memory_order_acquire)) {
    WaitForFirstList(*route, call);
    return;
  }
  auto sub = Pick(*route, call);
  if (!sub) {
    call->Finish(Status(StatusCode::kUnavailable, "no providers known for " +
                                                      (route->service.empty() ? target : route->service)));
    return;
  }
  ++call->attempts;
  call->remote = sub->address();
  sub->CallStarted();
  call->sink = this;
  call->subchannel = sub;
  sub->StartCall(call);
}

void Channel::Impl::OnAttemptDone(impl::CallData* call, Status status, bool) {
  if (auto sub = std::move(call->subchannel)) sub->CallEnded();
  call->Finish(std::move(status));
}

std::vector<std::shared_ptr<Route>> Channel::Impl::AllRoutes() {
  std::vector<std::shared_ptr<Route>> out;
  if (static_route) out.push_back(static_route);
  if (auto map = routes.load()) {
    for (const auto& [name, r] : *map) out.push_back(r);
  }
  return out;
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
}  // namespace

StatusOr<std::shared_ptr<Channel>> Channel::Create(const std::string& target, ChannelOptions options,
                                                   std::shared_ptr<ClientRuntime> runtime) {
  auto impl = std::make_shared<Impl>();
  impl->options = options;
  impl->runtime = runtime ? std::move(runtime) : ClientRuntime::Create(1);
  impl->target = target;
  std::string_view t = target;
  if (t.substr(0, 5) == "zk://") {
    std::string hosts, root;
    if (!ParseZkTarget(t, &hosts, &root)) {
      return Status(StatusCode::kInvalidArgument, "bad target '" + target + "': expected zk://host:port[,host:port]/root");
    }
    ZkOptions zk;
    zk.hosts = hosts;
    zk.session_timeout_ms = options.zk_session_timeout_ms;
    impl->discovery = impl->runtime->Discovery(zk, root);
    return std::shared_ptr<Channel>(new Channel(std::move(impl)));
  }
  if (t.substr(0, 9) == "static://") t.remove_prefix(9);
  if (t.find("://") != std::string_view::npos) {
    return Status(StatusCode::kInvalidArgument,
                  "unsupported target '" + target + "' (expected host:port, static://h1:p1,h2:p2 or zk://hosts/root)");
  }
  auto endpoints = ParseEndpointList(t);
  if (!endpoints.ok()) return Status(StatusCode::kInvalidArgument, "target '" + target + "': " + endpoints.status().message());
  impl->static_route = std::make_shared<Route>();
  std::vector<registry::ProviderInfo> providers;
  for (auto& ep : endpoints.value()) {
    registry::ProviderInfo p;
    p.endpoint = ep;
    providers.push_back(std::move(p));
  }
  impl->UpdateEndpoints(*impl->static_route, providers);
  return std::shared_ptr<Channel>(new Channel(std::move(impl)));
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
    const auto timeout = call.timeout_set ? call.timeout : std::chrono::milliseconds(impl_->options.timeout_ms);
    call.deadline = timeout.count() > 0 ? call.start + timeout : impl::CallData::Clock::time_point::max();
  }
  if (impl_->shut_down.load(std::memory_order_relaxed)) {
    call.Finish(Status(StatusCode::kUnavailable, "channel is shut down"));
  } else {
    impl_->StartAttempt(&call);
  }
  if (!done) call.Wait();
}

Status Channel::WaitForEndpoints(const std::string& service, std::chrono::milliseconds timeout) {
  auto route = impl_->RouteForService(service);
  const auto until = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto set = route->endpoints.load();
    if (set && !set->subchannels.empty()) return Status::Ok();
    if (std::chrono::steady_clock::now() >= until) {
      return Status(StatusCode::kDeadlineExceeded, "no endpoints of " + service + " known after " +
                                                       std::to_string(timeout.count()) + " ms");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

std::vector<EndpointInfo> Channel::Endpoints() const {
  std::vector<EndpointInfo> out;
  for (const auto& route : impl_->AllRoutes()) {
    auto set = route->endpoints.load();
    if (!set) continue;
    for (const auto& s : set->subchannels) {
      out.push_back({route->service, s->address(), impl::Subchannel::StateName(s->state()), s->inflight(),
                     s->connects(), s->connect_failures()});
    }
  }
  return out;
}

const std::string& Channel::target() const { return impl_->target; }

void Channel::Shutdown() {
  if (impl_->shut_down.exchange(true)) return;
  for (const auto& route : impl_->AllRoutes()) {
    if (impl_->discovery && route->subscription) impl_->discovery->Unsubscribe(route->subscription);
    std::vector<std::pair<impl::CallData*, uint64_t>> waiting;
    {
      std::lock_guard lock(route->mu);
      waiting.swap(route->waiting);
    }
    for (auto& [call, seq] : waiting) call->Finish(Status(StatusCode::kUnavailable, "channel is shut down"));
    if (auto set = route->endpoints.load()) {
      for (const auto& s : set->subchannels) s->Shutdown();
    }
  }
  // Wait until every I/O thread ran the shutdowns above (pending calls are failed there),
  // unless we are on one of those threads.
  auto& io = impl_->runtime->io();
  for (size_t i = 0; i < io.size(); ++i) {
    if (io.At(i).get_executor().running_in_this_thread()) return;
  }
  for (size_t i = 0; i < io.size(); ++i) {
    std::promise<void> passed;
    asio::post(io.At(i), [&passed] { passed.set_value(); });
    passed.get_future().wait();
  }
}

std::future<Status> CallFuture(Controller* controller,
                               const std::function<void(google::protobuf::Closure* done)>& invoke) {
  struct Done final : google::protobuf::Closure {
    Controller* controller;
    std::promise<Status> promise;
    void Run() override {
      promise.set_value(controller->status());
      delete this;
    }
  };
  auto* done = new Done;
  done->controller = controller;
  auto future = done->promise.get_future();
  invoke(done);
  return future;
}

std::shared_ptr<ClientRuntime> ClientRuntime::Create(int io_threads) {
  return std::shared_ptr<ClientRuntime>(new ClientRuntime(io_threads));
}

ClientRuntime::ClientRuntime(int io_threads) : pool_(std::make_unique<impl::IoPool>(io_threads, "krpc-cli")) {}

ClientRuntime::~ClientRuntime() {
  discovery_.clear();
  for (auto& [hosts, zk] : zk_) zk->Stop();
}

impl::IoPool& ClientRuntime::io() { return *pool_; }

std::shared_ptr<ZkClient> ClientRuntime::ZooKeeper(const ZkOptions& options) {
  std::lock_guard lock(mu_);
  auto& zk = zk_[options.hosts];
  if (!zk) {
    zk = std::make_shared<ZkClient>(options);
    (void)zk->Start();
  }
  return zk;
}

std::shared_ptr<impl::ZkDiscovery> ClientRuntime::Discovery(const ZkOptions& options, const std::string& root) {
  auto zk = ZooKeeper(options);
  std::lock_guard lock(mu_);
  auto& d = discovery_[options.hosts + registry::NormalizeRoot(root)];
  if (!d) {
    d = std::make_shared<impl::ZkDiscovery>(zk, root);
    d->Start();
  }
  return d;
}

}  // namespace krpc
