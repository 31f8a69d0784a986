#include "krpc/channel.h"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <random>
#include <thread>

#include "channel_impl.h"
#include "krpc/config.h"
#include "krpc/impl/deadline.h"
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
  o.AddInt("latency_decay_ms", &latency_decay_ms, 1, 600000, "time constant of the peak-EWMA latency (p2c)");
  o.AddChoice("load_balancer", &load_balancer, {"round_robin", "weighted_round_robin", "random", "p2c", "consistent_hash"},
              "load-balancing policy");
  o.AddInt("max_attempts", &max_attempts, 1, 10, "attempts per call including retries");
  o.AddString("retry_codes", &retry_codes, "status codes retried (comma separated; DEADLINE_EXCEEDED never is)");
  o.AddString("idempotent_methods", &idempotent_methods, "/pkg.Svc/Method list safe to retry after they may have run");
  o.AddInt("retry_backoff_base_ms", &retry_backoff_base_ms, 0, 60000, "retry backoff base");
  o.AddInt("retry_backoff_max_ms", &retry_backoff_max_ms, 0, 600000, "retry backoff cap");
  o.AddDouble("retry_budget_ratio", &retry_budget_ratio, 0, 10, "retries allowed per request over 10 s");
  o.AddDouble("retry_budget_min_per_second", &retry_budget_min_per_second, 0, 100000, "retries always allowed per second");
  o.AddBool("breaker_enabled", &breaker_enabled, "per-endpoint circuit breakers");
  o.AddInt("breaker_consecutive_failures", &breaker_consecutive_failures, 1, 100000, "open after this many failures in a row");
  o.AddDouble("breaker_error_rate", &breaker_error_rate, 0.0, 1.0, "open above this failure share in the window");
  o.AddInt("breaker_min_requests", &breaker_min_requests, 1, 1000000, "calls in the window before the rate counts");
  o.AddInt("breaker_window_ms", &breaker_window_ms, 1000, 64000, "error-rate window");
  o.AddInt("breaker_base_isolation_ms", &breaker_base_isolation_ms, 1, 3600000, "first isolation time (doubles)");
  o.AddInt("breaker_max_isolation_ms", &breaker_max_isolation_ms, 1, 3600000, "longest isolation time");
  o.AddInt("breaker_half_open_probes", &breaker_half_open_probes, 1, 100, "health probes that must pass to close");
  o.AddInt("health_probe_timeout_ms", &health_probe_timeout_ms, 1, 600000, "deadline of one health probe");
  o.AddInt("max_ejection_percent", &max_ejection_percent, 0, 100, "most endpoints that may be ejected at once");
  o.AddInt("panic_threshold_percent", &panic_threshold_percent, 0, 100, "below this healthy share, use every endpoint");
  o.AddBool("enable_connection_pool", &enable_connection_pool, "several multiplexed connections per endpoint");
  o.AddInt("connection_pool_max_size", &connection_pool_max_size, 1, 1024, "connections per endpoint");
  o.AddInt("connection_pool_max_idle", &connection_pool_max_idle, 0, 1024, "idle connections kept per endpoint");
  o.AddInt("connection_idle_timeout_ms", &connection_idle_timeout_ms, 0, 86400000, "close idle connections after (0 = never)");
  o.AddInt("max_streams_per_connection", &max_streams_per_connection, 1, 1000000, "calls per connection before the pool opens another");
}

Channel::Impl::Impl(const ChannelOptions& o)
    : options(o),
      budget(impl::RetryBudgetOptions{o.retry_budget_ratio, o.retry_budget_min_per_second, std::chrono::seconds(10)}) {}

Status Channel::Impl::Configure() {
  lb = lb_registry.Find(options.load_balancer);
  if (!lb) return Status(StatusCode::kInvalidArgument, "bad value for 'load_balancer': unknown policy '" + options.load_balancer + "'");
  for (std::string_view rest = options.retry_codes; !rest.empty();) {
    const auto one = rest.substr(0, rest.find(','));
    rest.remove_prefix(std::min(rest.size(), one.size() + 1));
    StatusCode c;
    if (!ParseStatusCode(one, &c)) return Status(StatusCode::kInvalidArgument, "bad value for 'retry_codes': '" + std::string(one) + "'");
    if (c != StatusCode::kDeadlineExceeded) retry_codes.push_back(c);
  }
  for (std::string_view rest = options.idempotent_methods; !rest.empty();) {
    const auto one = rest.substr(0, rest.find(','));
    rest.remove_prefix(std::min(rest.size(), one.size() + 1));
    idempotent_methods.emplace_back(one);
  }
  return Status::Ok();
}

impl::Subchannel::Options Channel::Impl::subchannel_options() const {
  using std::chrono::milliseconds;
  impl::Subchannel::Options so;
  so.transport.connect_timeout = milliseconds(options.connect_timeout_ms);
  so.transport.heartbeat_interval = milliseconds(options.heartbeat_interval_ms);
  so.transport.heartbeat_miss_limit = options.heartbeat_miss_limit;
  so.transport.max_body_bytes = options.max_body_bytes;
  so.backoff.initial = milliseconds(options.reconnect_backoff_initial_ms);
  so.backoff.multiplier = options.reconnect_backoff_multiplier;
  so.backoff.jitter = options.reconnect_backoff_jitter;
  so.backoff.max = milliseconds(options.reconnect_backoff_max_ms);
  so.pool.enabled = options.enable_connection_pool;
  so.pool.max_size = options.connection_pool_max_size;
  so.pool.max_idle = options.connection_pool_max_idle;
  so.pool.idle_timeout = milliseconds(options.connection_idle_timeout_ms);
  so.pool.max_streams_per_connection = options.max_streams_per_connection;
  so.breaker.enabled = options.breaker_enabled;
  so.breaker.consecutive_failures = options.breaker_consecutive_failures;
  so.breaker.error_rate = options.breaker_error_rate;
  so.breaker.min_requests = options.breaker_min_requests;
  so.breaker.window = milliseconds(options.breaker_window_ms);
  so.breaker.base_isolation = milliseconds(options.breaker_base_isolation_ms);
  so.breaker.max_isolation = milliseconds(options.breaker_max_isolation_ms);
  so.breaker.half_open_probes = options.breaker_half_open_probes;
  so.probe.timeout = milliseconds(options.health_probe_timeout_ms);
  so.latency_decay = milliseconds(options.latency_decay_ms);
  return so;
}

void Channel::Impl::UpdateEndpoints(Route& route, const std::vector<registry::ProviderInfo>& providers) {
  std::vector<std::pair<std::shared_ptr<impl::CallToken>, uint64_t>> waiting;
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
        route.ejection->max_share.store(options.max_ejection_percent / 100.0);
        keep = std::make_shared<impl::Subchannel>(runtime->io().Next().get_executor(), p.endpoint,
                                                  subchannel_options(), route.ejection, observer);
      }
      keep->set_weight(p.weight);
      next->subchannels.push_back(std::move(keep));
    }
    next->picker = lb->Build(next->subchannels);
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
  for (auto& [token, seq] : waiting) {
    if (auto* call = impl::CallToken::Resume(token, impl::CallState::kWaitingForList)) StartAttempt(call);
  }
}

void Channel::Impl::WaitForFirstList(Route& route, impl::CallData* call) {
  auto token = call->Park(impl::CallState::kWaitingForList);
  if (!token) {
    FinishCall(call, Status(StatusCode::kCancelled, "call cancelled by the client"));
    return;
  }
  uint64_t seq = 0;
  {
    std::lock_guard lock(route.mu);
    if (!route.resolved.load()) {
      seq = route.next_wait++;
      route.waiting.emplace_back(token, seq);
    }
  }
  if (seq == 0) {  // the list arrived meanwhile
    if (impl::CallToken::Resume(token, impl::CallState::kWaitingForList)) StartAttempt(call);
    return;
  }
  if (call->deadline == impl::CallData::Clock::time_point::max()) return;
  // Rare path (first calls of a service): one timer per waiting call bounds the wait. It holds
  // the call's token, not the call, which a cancel may have finished and freed meanwhile.
  auto timer = std::make_shared<asio::steady_timer>(runtime->io().Next(), call->deadline);
  std::weak_ptr<Channel::Impl> weak = shared_from_this();
  const std::string service = route.service;
  timer->async_wait([weak, timer, token, seq, service](const boost::system::error_code&) {
    auto self = weak.lock();
    if (!self) return;
    auto r = self->RouteForService(service);
    {
      std::lock_guard lock(r->mu);
      std::erase_if(r->waiting, [&](auto& w) { return w.second == seq; });
    }
    if (auto* c = impl::CallToken::Resume(token, impl::CallState::kWaitingForList)) {
      self->FinishCall(c, Status(StatusCode::kDeadlineExceeded,
                                 "no provider list for " + service + " from ZooKeeper before the deadline"));
    }
  });
}

std::shared_ptr<Route> Channel::Impl::RouteForService(const std::string& service) {
  if (static_route) return static_route;
  if (auto map = routes.load()) {
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

std::shared_ptr<impl::Subchannel> Channel::Impl::Pick(Route& route, impl::CallData* call) {
  auto set = route.endpoints.load();
  if (!set || set->subchannels.empty()) return nullptr;
  const size_t n = set->subchannels.size();
  size_t healthy = 0;
  for (const auto& s : set->subchannels) healthy += s->healthy();
  impl::Selectable ok;
  ok.exclude = call->tried;
  ok.n_exclude = call->n_tried;
  // Panic: too few healthy endpoints left, so spread over all of them (Envoy's panic threshold).
  ok.ignore_health = healthy * 100 < static_cast<size_t>(options.panic_threshold_percent) * n;
  if (ok.ignore_health) panic_picks.fetch_add(1, std::memory_order_relaxed);
  impl::PickContext ctx{call->request_key, call->has_request_key};
  int at = set->picker->Pick(ctx, ok);
  if (at < 0 && ok.n_exclude > 0) {  // every healthy endpoint was tried: allow a repeat
    ok.n_exclude = 0;
    at = set->picker->Pick(ctx, ok);
  }
  if (at < 0) {
    ok.ignore_health = true;
    panic_picks.fetch_add(1, std::memory_order_relaxed);
    at = set->picker->Pick(ctx, ok);
  }
  return at < 0 ? nullptr : set->subchannels[static_cast<size_t>(at)];
}

void Channel::Impl::StartAttempt(impl::CallData* call) {
  Route* route = RouteFor(call->method);
  if (!route->resolved.load()) {
    WaitForFirstList(*route, call);
    return;
  }
  auto sub = Pick(*route, call);
  if (!sub) {
    FinishCall(call, Status(StatusCode::kUnavailable,
                            "no providers known for " + (route->service.empty() ? target : route->service)));
    return;
  }
  ++call->attempts;
  call->remote = sub->address();
  call->attempt_start = impl::CallData::Clock::now();
  if (call->n_tried < static_cast<int>(std::size(call->tried))) call->tried[call->n_tried++] = sub.get();
  sub->CallStarted();
  call->subchannel = sub;
  sub->StartCall(call);
}

bool Channel::Impl::ShouldRetry(impl::CallData* call, const Status& status, bool not_executed,
                                impl::CallData::Clock::time_point now, std::chrono::milliseconds* backoff) {
  if (status.ok() || call->attempts >= options.max_attempts || shut_down.load()) return false;
  if (std::find(retry_codes.begin(), retry_codes.end(), status.code()) == retry_codes.end()) return false;
  {
    std::lock_guard lock(call->mu);
    if (call->canceled) return false;
  }
  // Only when the request provably did not run, or the method may safely run twice.
  bool idempotent = call->idempotent;
  if (!idempotent && !not_executed && !idempotent_methods.empty()) {
    const std::string name = "/" + call->method->service()->full_name() + "/" + call->method->name();
    idempotent = std::find(idempotent_methods.begin(), idempotent_methods.end(), name) != idempotent_methods.end();
  }
  if (!not_executed && !idempotent) return false;
  // Overload is an endpoint's state: RESOURCE_EXHAUSTED is retried only on another endpoint.
  if (status.code() == StatusCode::kResourceExhausted) {
    auto set = RouteFor(call->method)->endpoints.load();
    if (!set || set->subchannels.size() <= static_cast<size_t>(call->n_tried)) return false;
  }
  static thread_local std::minstd_rand rng(std::random_device{}());
  const int64_t cap = std::min<int64_t>(options.retry_backoff_max_ms,
                                        int64_t{options.retry_backoff_base_ms} << std::min(call->attempts - 1, 20));
  *backoff = std::chrono::milliseconds(cap > 0 ? static_cast<int64_t>(rng() % static_cast<uint64_t>(cap + 1)) : 0);
  if (call->deadline != impl::CallData::Clock::time_point::max() && now + *backoff >= call->deadline) return false;
  if (budget.TryRetry(now)) return true;
  if (client_observer) client_observer->OnRetryBudgetExhausted(call->method);
  return false;
}

void Channel::Impl::FinishCall(impl::CallData* call, Status status) {
  {
    // A cancel requested before completion wins: the call never reports OK (or another
    // status) while IsCanceled() says it was cancelled.
    std::lock_guard lock(call->mu);
    if (call->canceled && status.code() != StatusCode::kCancelled) {
      status = Status(StatusCode::kCancelled, "call cancelled by the client");
    }
  }
  auto keep = std::move(call->sink);  // this channel lives at least until the call is done
  if (client_observer) {
    client_observer->OnCallFinished(call->method, status.code(), impl::CallData::Clock::now() - call->start,
                                    call->attempts);
  }
  call->Finish(std::move(status));
}

void Channel::Impl::OnAttemptDone(impl::CallData* call, Status status, bool not_executed) {
  const auto now = impl::CallData::Clock::now();
  if (auto sub = std::move(call->subchannel)) sub->CallEnded(status, now - call->attempt_start);
  std::chrono::milliseconds backoff{0};
  if (!ShouldRetry(call, status, not_executed, now, &backoff)) {
    FinishCall(call, std::move(status));
    return;
  }
  retries.fetch_add(1, std::memory_order_relaxed);
  if (client_observer) client_observer->OnRetry(call->method);
  if (backoff.count() == 0) {
    StartAttempt(call);
    return;
  }
  auto token = call->Park(impl::CallState::kBackoff);
  if (!token) {
    FinishCall(call, Status(StatusCode::kCancelled, "call cancelled by the client"));
    return;
  }
  auto timer = std::make_shared<asio::steady_timer>(runtime->io().Next(), backoff);
  timer->async_wait([self = shared_from_this(), timer, token](const boost::system::error_code&) {
    if (auto* c = impl::CallToken::Resume(token, impl::CallState::kBackoff)) self->StartAttempt(c);
  });
}

void Channel::Impl::OnCanceledWhileParked(impl::CallData* call) {
  FinishCall(call, Status(StatusCode::kCancelled, "call cancelled by the client"));
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
// The server closes a connection whose request header exceeds 64 KiB, failing every call on
// it; too much metadata fails only this call, here, before it is sent anywhere.
Status CheckMetadataSize(const impl::CallData& call) {
  size_t bytes = 64 + call.method->full_name().size();  // call id, timeout, method, framing
  for (const auto& [k, v] : call.metadata) bytes += k.size() + v.size() + 12;
  if (bytes <= codec::kMaxHeaderBytes) return Status::Ok();
  return Status(StatusCode::kResourceExhausted, "request metadata of about " + std::to_string(bytes) +
                                                    " bytes exceeds the 64 KiB header limit");
}

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
  auto impl = std::make_shared<Impl>(options);
  if (Status s = impl->Configure(); !s.ok()) return s;
  impl->runtime = runtime ? std::move(runtime) : ClientRuntime::Create(1);
  impl->target = target;
  impl->client_observer = impl->runtime->observer();
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
    impl->discovery = impl->runtime->Discovery(zk, root);
    auto rt = impl->runtime;
    std::shared_ptr<Channel> ch(new Channel(std::move(impl)));
    rt->Track(ch);
    return ch;
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
  auto rt = impl->runtime;
  std::shared_ptr<Channel> ch(new Channel(std::move(impl)));
  rt->Track(ch);
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
  call.sink = impl_;
  call.start = impl::CallData::Clock::now();
  impl_->calls.fetch_add(1, std::memory_order_relaxed);
  impl_->budget.OnRequest(call.start);
  if (!call.deadline_set) {
    const auto timeout = call.timeout_set ? call.timeout : std::chrono::milliseconds(impl_->options.timeout_ms);
    call.deadline = impl::SaturatingDeadline(call.start, timeout);
  }
  if (impl_->shut_down.load(std::memory_order_relaxed)) {
    impl_->FinishCall(&call, Status(StatusCode::kUnavailable, "channel is shut down"));
  } else if (Status s = CheckMetadataSize(call); !s.ok()) {
    impl_->FinishCall(&call, std::move(s));
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
      EndpointInfo e;
      e.service = route->service;
      e.address = s->address();
      e.state = impl::Subchannel::StateName(s->state());
      e.inflight = s->inflight();
      e.connects = s->connects();
      e.connect_failures = s->connect_failures();
      e.breaker = impl::CircuitBreaker::StateName(s->breaker_state());
      e.weight = s->weight();
      e.latency_ewma_us = s->ewma().value_us();
      e.connections_active = s->connections_active();
      e.connections_idle = s->connections_idle();
      e.reuses = s->reuses();
      e.breaker_transitions = s->breaker_transitions();
      out.push_back(std::move(e));
    }
  }
  return out;
}

const std::string& Channel::target() const { return impl_->target; }

ChannelStats Channel::stats() const {
  ChannelStats s;
  s.calls = impl_->calls.load();
  s.retries = impl_->retries.load();
  s.retry_budget_exhausted = impl_->budget.exhausted();
  s.panic_picks = impl_->panic_picks.load();
  for (const auto& r : impl_->AllRoutes()) s.ejections_refused += r->ejection->refused.load();
  return s;
}

void Channel::Shutdown() {
  if (impl_->shut_down.exchange(true)) return;
  for (const auto& route : impl_->AllRoutes()) {
    if (impl_->discovery && route->subscription) impl_->discovery->Unsubscribe(route->subscription);
    std::vector<std::pair<std::shared_ptr<impl::CallToken>, uint64_t>> waiting;
    {
      std::lock_guard lock(route->mu);
      waiting.swap(route->waiting);
    }
    for (auto& [token, seq] : waiting) {
      if (auto* call = impl::CallToken::Resume(token, impl::CallState::kWaitingForList)) {
        impl_->FinishCall(call, Status(StatusCode::kUnavailable, "channel is shut down"));
      }
    }
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

void ClientRuntime::SetObserver(std::shared_ptr<ClientObserver> observer) {
  std::lock_guard lock(mu_);
  observer_ = std::move(observer);
}

std::shared_ptr<ClientObserver> ClientRuntime::observer() const {
  std::lock_guard lock(const_cast<std::mutex&>(mu_));
  return observer_;
}

void ClientRuntime::Track(const std::shared_ptr<Channel>& channel) {
  std::lock_guard lock(mu_);
  std::erase_if(channels_, [](const auto& w) { return w.expired(); });
  channels_.push_back(channel);
}

std::vector<std::shared_ptr<Channel>> ClientRuntime::Channels() {
  std::lock_guard lock(mu_);
  std::vector<std::shared_ptr<Channel>> out;
  for (auto& w : channels_) {
    if (auto c = w.lock()) out.push_back(std::move(c));
  }
  return out;
}

uint64_t ClientRuntime::DiscoveryUpdates() {
  std::lock_guard lock(mu_);
  uint64_t n = 0;
  for (auto& [k, d] : discovery_) n += d->updates();
  return n;
}

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
