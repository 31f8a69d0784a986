// Channel::Impl: routes (one per service), the wait for a first provider list, picking with
// panic mode, stall detection and slow start, and the route's latency outlier sweep. The
// attempts of a call are in call_attempts.cc.
#include "channel_impl.h"
#include "runtime_access.h"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>

#include "krpc/impl/deadline.h"
#include "krpc/impl/io_pool.h"
#include "resilience/latency_outliers.h"

namespace krpc {
namespace asio = boost::asio;

Channel::Impl::Impl(const ChannelOptions& o) : options(o) {}

Status Channel::Impl::Configure() {
  lb = lb_registry.Find(options.load_balancer);
  if (!lb) return Status(StatusCode::kInvalidArgument, "bad value for 'load_balancer': unknown policy '" + options.load_balancer + "'");
  if (NameOf(kWireProtocolNames, options.connection.protocol) == "?") {  // a cast integer: fail closed
    return Status(StatusCode::kInvalidArgument, "bad value for 'protocol' (expected krpc or grpc)");
  }
  if (options.connection.tls_enabled) {
    net::TlsContext::Config config;
    config.role = net::TlsContext::Role::kClient;
    config.files = options.connection.tls;
    auto ctx = net::TlsContext::Create(std::move(config));
    if (!ctx.ok()) return ctx.status();
    tls = std::move(ctx).value();
  }
  auto policy = impl::RetryPolicy::FromOptions(options);
  if (!policy.ok()) return policy.status();
  retry.emplace(std::move(policy).value());
  hedging.emplace(options.hedging);
  return Status::Ok();
}

impl::Subchannel::Options Channel::Impl::subchannel_options() const {
  return {options.connection, options.reconnect, options.pool, options.breaker, options.outlier, options.latency_decay_ms, tls};
}

void Channel::Impl::UpdateEndpoints(Route& route, const std::vector<registry::ProviderInfo>& providers) {
  std::vector<std::pair<std::shared_ptr<impl::CallToken>, uint64_t>> waiting;
  std::shared_ptr<const EndpointSet> old;
  {
    std::lock_guard lock(route.mu);
    old = route.endpoints.load();
    auto next = std::make_shared<EndpointSet>();
    // Endpoints that stay keep their subchannel (connections, breaker, latency): found by
    // address in O(log n), so an update of 1,000 providers stays linear-logarithmic.
    std::map<Endpoint, std::shared_ptr<impl::Subchannel>> known;
    if (old) {
      for (const auto& s : old->subchannels) known.emplace(s->endpoint(), s);
    }
    for (const auto& p : providers) {
      std::shared_ptr<impl::Subchannel> keep;
      if (auto it = known.find(p.endpoint); it != known.end()) {
        keep = std::move(it->second);
        known.erase(it);
      }
      if (!keep) {
        route.ejection->max_share.store(options.breaker.max_ejection_percent / 100.0);
        // An endpoint that joins a known set ramps up (slow start); the first list does not.
        keep = impl::Subchannel::Create(impl::RuntimeAccess::Io(*runtime).Next().get_executor(), p.endpoint,
                                        subchannel_options(), route.ejection, observer, route.latency,
                                        old != nullptr && !old->subchannels.empty());
      }
      keep->load().set_weight(p.weight);
      next->subchannels.push_back(std::move(keep));
    }
    impl::EndpointList loads;
    loads.reserve(next->subchannels.size());
    for (const auto& sub : next->subchannels) loads.push_back(sub->load_ref());
    next->picker = lb->Build(loads);
    route.endpoints.store(next);
    route.resolved.store(true);
    waiting.swap(route.waiting);
    if (old) {
      // Left the set: their calls in flight finish, new ones go to the endpoints that stay.
      std::erase_if(route.retiring, [](const auto& s) { return s->retired_and_closed(); });
      for (const auto& [endpoint, s] : known) {
        s->Retire();
        route.retiring.push_back(s);
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
  auto timer = std::make_shared<asio::steady_timer>(impl::RuntimeAccess::Io(*runtime).ForTimer(), call->deadline);
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
  ArmSweep(route);
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

std::chrono::steady_clock::duration Channel::Impl::StallThreshold(const Route& route,
                                                                   impl::CallData::Clock::time_point now) const {
  const auto p99 = std::chrono::microseconds(route.latency->Quantile(now));
  const auto scaled = std::chrono::duration_cast<std::chrono::microseconds>(p99 * options.outlier.stall_factor);
  return std::max<std::chrono::steady_clock::duration>(scaled, std::chrono::milliseconds(options.outlier.stall_min_ms));
}

std::shared_ptr<impl::Subchannel> Channel::Impl::Pick(Route& route, impl::CallData* call,
                                                      impl::CallData::Clock::time_point now, bool repeat) {
  auto set = route.endpoints.load();
  if (!set || set->subchannels.empty()) return nullptr;
  impl::Selectable ok;
  ok.exclude = call->tried;
  ok.n_exclude = call->n_tried;
  ok.now = now;
  ok.stall_after = StallThreshold(route, now);
  // Panic: too few healthy endpoints left, so spread over all of them (Envoy's panic threshold).
  ok.ignore_health = Panicking(*set, now);
  if (ok.ignore_health) panic_picks.fetch_add(1, std::memory_order_relaxed);
  impl::PickContext ctx{call->request_key, call->has_request_key};
  int at = set->picker->Pick(ctx, ok);
  if (at < 0) {  // only endpoints in their slow-start ramp were left: they take it
    ok.slow_start = false;
    at = set->picker->Pick(ctx, ok);
  }
  if (at < 0 && ok.n_exclude > 0) {  // every healthy endpoint was tried
    if (!repeat) return nullptr;
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

bool Channel::Impl::Panicking(const EndpointSet& set, impl::CallData::Clock::time_point now) const {
  if (options.panic_threshold_percent <= 0) return false;
  const size_t n = set.subchannels.size();
  const auto count = [&] {
    size_t healthy = 0;
    for (const auto& s : set.subchannels) healthy += s->load().healthy();
    return healthy * 100 < static_cast<size_t>(options.panic_threshold_percent) * n;
  };
  if (n <= EndpointSet::kExactPanicUpTo) return count();
  const int64_t t = now.time_since_epoch().count();
  constexpr int64_t kRecount = std::chrono::nanoseconds(std::chrono::milliseconds(1)).count();
  const int64_t last = set.panic_checked_ns.load(std::memory_order_relaxed);
  if (last == 0 || t - last >= kRecount) {
    set.panic_checked_ns.store(t, std::memory_order_relaxed);  // racing recounts agree closely enough
    set.panic.store(count(), std::memory_order_relaxed);
  }
  return set.panic.load(std::memory_order_relaxed);
}

void Channel::Impl::ArmSweep(const std::shared_ptr<Route>& route) {
  if (options.outlier.interval_ms <= 0) return;
  if (!route->sweep) route->sweep = std::make_unique<asio::steady_timer>(impl::RuntimeAccess::Io(*runtime).ForTimer());
  route->sweep->expires_after(std::chrono::milliseconds(options.outlier.interval_ms));
  route->sweep->async_wait([weak = weak_from_this(), weak_route = std::weak_ptr<Route>(route)](const boost::system::error_code& ec) {
    auto self = weak.lock();
    auto r = weak_route.lock();
    if (ec || !self || !r || self->shut_down.load()) return;
    self->Sweep(*r);
    self->ArmSweep(r);
  });
}

void Channel::Impl::Sweep(Route& route) {
  auto set = route.endpoints.load();
  if (!set || set->subchannels.size() < 2) return;
  std::vector<impl::EndpointSample> samples;
  for (const auto& s : set->subchannels) {
    impl::EndpointSample e;
    s->load().TakeInterval(&e.calls, &e.latency_us);
    e.in_rotation = s->load().healthy();
    samples.push_back(e);
  }
  double median_us = 0;
  for (size_t i : impl::LatencyOutliers(samples, options.outlier, &median_us)) {
    set->subchannels[i]->EjectAsOutlier(static_cast<double>(samples[i].latency_us) / static_cast<double>(samples[i].calls),
                                        median_us);
  }
}

std::vector<std::shared_ptr<Route>> Channel::Impl::AllRoutes() {
  std::vector<std::shared_ptr<Route>> out;
  if (static_route) out.push_back(static_route);
  if (auto map = routes.load()) {
    for (const auto& [name, r] : *map) out.push_back(r);
  }
  return out;
}

}  // namespace krpc
