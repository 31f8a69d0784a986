// Channel::Impl: routes (one per service), the wait for a first provider list, picking with
// panic mode, and the attempt loop (retries with backoff and budget) of every call.
#include "channel_impl.h"
#include "runtime_access.h"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>

#include "krpc/impl/deadline.h"
#include "krpc/impl/io_pool.h"

namespace krpc {
namespace asio = boost::asio;

Channel::Impl::Impl(const ChannelOptions& o) : options(o) {}

Status Channel::Impl::Configure() {
  lb = lb_registry.Find(options.load_balancer);
  if (!lb) return Status(StatusCode::kInvalidArgument, "bad value for 'load_balancer': unknown policy '" + options.load_balancer + "'");
  auto policy = impl::RetryPolicy::FromOptions(options);
  if (!policy.ok()) return policy.status();
  retry.emplace(std::move(policy).value());
  return Status::Ok();
}

impl::Subchannel::Options Channel::Impl::subchannel_options() const {
  return {options.connection, options.reconnect, options.pool, options.breaker, options.latency_decay_ms};
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
        route.ejection->max_share.store(options.breaker.max_ejection_percent / 100.0);
        keep = impl::Subchannel::Create(impl::RuntimeAccess::Io(*runtime).Next().get_executor(), p.endpoint,
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
  auto timer = std::make_shared<asio::steady_timer>(impl::RuntimeAccess::Io(*runtime).Next(), call->deadline);
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
  if (status.ok() || shut_down.load() || !retry->Retryable(status.code())) return false;
  {
    std::lock_guard lock(call->mu);
    if (call->canceled) return false;
  }
  // Overload is an endpoint's state: RESOURCE_EXHAUSTED is retried only on another endpoint.
  if (status.code() == StatusCode::kResourceExhausted) {
    auto set = RouteFor(call->method)->endpoints.load();
    if (!set || set->subchannels.size() <= static_cast<size_t>(call->n_tried)) return false;
  }
  const auto d = retry->Decide({call->method, call->attempts, call->idempotent, not_executed, call->deadline}, status, now);
  if (d.verdict == impl::RetryPolicy::Verdict::kBudgetExhausted && client_observer) {
    client_observer->OnRetryBudgetExhausted(call->method);
  }
  *backoff = d.backoff;
  return d.verdict == impl::RetryPolicy::Verdict::kRetry;
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
  auto timer = std::make_shared<asio::steady_timer>(impl::RuntimeAccess::Io(*runtime).Next(), backoff);
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

}  // namespace krpc
