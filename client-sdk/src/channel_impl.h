// Channel::Impl: a channel's parts, each with one job: its RouteTable (routes by service, fed
// by a Resolver: static list or ZooKeeper), its CallAttempts (the attempt state machine), and
// what they share (RouteConfig). The public Channel forwards to it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "call_attempts.h"
#include "krpc/channel.h"
#include "resolver.h"
#include "route.h"
#include "route_table.h"

namespace krpc {

struct Channel::Impl {
 public:
  // Checks the options (load balancer, protocol, TLS files, retry settings) and builds the
  // parts around `resolver`.
  static StatusOr<std::shared_ptr<Impl>> Create(std::string target, const ChannelOptions& options,
                                                std::shared_ptr<ClientRuntime> runtime,
                                                std::unique_ptr<impl::Resolver> resolver);
  Impl(std::shared_ptr<const impl::RouteConfig> config, std::shared_ptr<impl::RouteTable> routes,
       std::shared_ptr<impl::CallAttempts> attempts, std::string target);

  const std::string& target() const { return target_; }
  const ChannelOptions& options() const { return config_->options; }
  ClientRuntime& runtime() const { return *config_->runtime; }
  // Makes the route of `service` now (a static target's single route serves every service).
  std::shared_ptr<impl::Route> Resolve(const std::string& service) { return routes_->ForService(service); }
  // Starts a call whose CallData is filled in; its end runs `done` or wakes the caller.
  void Call(impl::CallData* call);
  std::vector<EndpointInfo> Endpoints() const;
  ChannelStats Stats() const;
  // Fails pending calls and shuts every endpoint down. Idempotent.
  void Shutdown();

 private:
  const std::shared_ptr<const impl::RouteConfig> config_;
  const std::shared_ptr<impl::RouteTable> routes_;
  const std::shared_ptr<impl::CallAttempts> attempts_;
  const std::string target_;
};

}  // namespace krpc
