#include "channel_impl.h"

#include <boost/asio/post.hpp>

#include <future>

#include "krpc/impl/io_pool.h"
#include "krpc/net/tls_context.h"
#include "runtime_access.h"

namespace krpc {
namespace asio = boost::asio;

StatusOr<std::shared_ptr<Channel::Impl>> Channel::Impl::Create(std::string target, const ChannelOptions& options,
                                                               std::shared_ptr<ClientRuntime> runtime,
                                                               std::unique_ptr<impl::Resolver> resolver) {
  auto config = std::make_shared<impl::RouteConfig>();
  config->options = options;
  config->lb = config->lb_registry.Find(options.load_balancer);
  if (!config->lb) {
    return Status(StatusCode::kInvalidArgument, "bad value for 'load_balancer': unknown policy '" + options.load_balancer + "'");
  }
  if (NameOf(kWireProtocolNames, options.connection.protocol) == "?") {  // a cast integer: fail closed
    return Status(StatusCode::kInvalidArgument, "bad value for 'protocol' (expected krpc or grpc)");
  }
  std::shared_ptr<net::TlsContext> tls;
  if (options.connection.tls_enabled) {
    net::TlsContext::Config tls_config;
    tls_config.role = net::TlsContext::Role::kClient;
    tls_config.files = options.connection.tls;
    auto ctx = net::TlsContext::Create(std::move(tls_config));
    if (!ctx.ok()) return ctx.status();
    tls = std::move(ctx).value();
  }
  auto retry = impl::RetryPolicy::FromOptions(options);
  if (!retry.ok()) return retry.status();
  config->subchannel = {options.connection, options.reconnect, options.pool,          options.breaker,
                        options.outlier,    options.latency_decay_ms, std::move(tls)};
  config->runtime = std::move(runtime);
  auto observer = config->runtime->observer();
  auto routes = std::make_shared<impl::RouteTable>(config, std::move(resolver));
  auto attempts = std::make_shared<impl::CallAttempts>(config, routes, std::move(retry).value(), std::move(observer), target);
  routes->set_calls(attempts);
  routes->Prepare();
  return std::make_shared<Impl>(std::move(config), std::move(routes), std::move(attempts), std::move(target));
}

Channel::Impl::Impl(std::shared_ptr<const impl::RouteConfig> config, std::shared_ptr<impl::RouteTable> routes,
                    std::shared_ptr<impl::CallAttempts> attempts, std::string target)
    : config_(std::move(config)), routes_(std::move(routes)), attempts_(std::move(attempts)), target_(std::move(target)) {}

void Channel::Impl::Call(impl::CallData* call) {
  call->sink = attempts_;  // keeps the attempt machinery alive until the call is done
  attempts_->Start(call);
}

std::vector<EndpointInfo> Channel::Impl::Endpoints() const {
  std::vector<EndpointInfo> out;
  for (const auto& route : routes_->All()) {
    auto set = route->endpoints();
    if (!set) continue;
    for (const auto& s : set->subchannels) {
      const auto& load = s->load();
      const auto now = std::chrono::steady_clock::now();
      EndpointInfo e;
      e.service = route->service();
      e.address = s->address();
      e.state = s->state();
      e.inflight = load.inflight();
      const auto& c = s->counters();
      e.connects = c.connects.load();
      e.connect_failures = c.connect_failures.load();
      e.tls_failures = s->tls_failures();
      e.breaker = s->breaker_state();
      e.weight = load.weight();
      e.latency_ewma_us = load.ewma().value_us();
      e.connections_active = c.active.load();
      e.connections_idle = c.idle.load();
      e.reuses = c.reuses.load();
      e.breaker_transitions = s->breaker_transitions();
      e.stalled = load.stalled(now, route->StallThreshold(now));
      e.slow_start = load.SlowStartShare(now);
      e.stalls = load.stalls();
      e.latency_ejections = c.latency_ejections.load();
      out.push_back(std::move(e));
    }
  }
  return out;
}

ChannelStats Channel::Impl::Stats() const {
  ChannelStats s;
  attempts_->AddStats(s);
  for (const auto& r : routes_->All()) {
    s.panic_picks += r->panic_picks();
    s.ejections_refused += r->ejections_refused();
    if (auto set = r->endpoints()) {
      for (const auto& sub : set->subchannels) {
        s.stalls += sub->load().stalls();
        s.latency_ejections += sub->counters().latency_ejections.load();
      }
    }
  }
  return s;
}

void Channel::Impl::Shutdown() {
  if (attempts_->shut_down()) return;
  attempts_->Shutdown();
  routes_->Shutdown();
  // Wait until every I/O thread ran the shutdowns above (pending calls are failed there),
  // unless we are on one of those threads.
  auto& io = impl::RuntimeAccess::Io(*config_->runtime);
  for (size_t i = 0; i < io.size(); ++i) {
    if (io.At(i).get_executor().running_in_this_thread()) return;
  }
  for (size_t i = 0; i < io.size(); ++i) {
    std::promise<void> passed;
    asio::post(io.At(i), [&passed] { passed.set_value(); });
    passed.get_future().wait();
  }
}

}  // namespace krpc
