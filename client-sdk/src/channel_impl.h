// Channel::Impl: routes (the endpoint set of a service: an immutable snapshot swapped on
// discovery changes, so picking takes no lock), the pick, and the completion of attempts.
// A static target has one route for every service; a zk:// target has one per service,
// created on the first call and fed by ZooKeeper discovery.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "call_data.h"
#include "krpc/impl/snapshot.h"
#include "lb/load_balancer.h"
#include "resilience/retry_policy.h"
#include "krpc/channel.h"
#include "krpc/client_observer.h"
#include "krpc/client_runtime.h"
#include "krpc/registry_layout.h"
#include "subchannel.h"
#include "zk_discovery.h"

namespace krpc {

// The endpoints a route spreads calls over, at one moment.
struct EndpointSet {
  std::vector<std::shared_ptr<impl::Subchannel>> subchannels;
  std::unique_ptr<impl::Picker> picker;
};

struct Route {
  std::string service;  // empty for a static target's single route
  impl::Snapshot<EndpointSet> endpoints;
  std::atomic<bool> resolved{false};
  std::mutex mu;  // updates and the calls waiting for the first list (never on the call path)
  std::vector<std::pair<std::shared_ptr<impl::CallToken>, uint64_t>> waiting;  // parked calls
  uint64_t next_wait = 1;
  uint64_t subscription = 0;
  std::shared_ptr<impl::EjectionGuard> ejection = std::make_shared<impl::EjectionGuard>();
};

struct Channel::Impl final : impl::AttemptSink, std::enable_shared_from_this<Channel::Impl> {
  ChannelOptions options;
  std::shared_ptr<ClientRuntime> runtime;
  std::string target;
  std::atomic<bool> shut_down{false};
  const impl::LoadBalancerPolicy* lb = nullptr;
  impl::LoadBalancerRegistry lb_registry = impl::LoadBalancerRegistry::WithBuiltins();
  std::optional<impl::RetryPolicy> retry;  // set by Configure()
  std::shared_ptr<impl::SubchannelObserver> observer;
  std::shared_ptr<ClientObserver> client_observer;
  std::atomic<uint64_t> calls{0};
  std::atomic<uint64_t> retries{0};
  std::atomic<uint64_t> panic_picks{0};

  explicit Impl(const ChannelOptions& o);
  Status Configure();

  std::shared_ptr<Route> static_route;                 // static targets
  std::shared_ptr<impl::ZkDiscovery> discovery;        // zk:// targets
  std::mutex routes_mu;
  impl::Snapshot<std::map<std::string, std::shared_ptr<Route>>> routes;

  Route* RouteFor(const google::protobuf::MethodDescriptor* method);
  std::shared_ptr<Route> RouteForService(const std::string& service);
  // Replaces a route's endpoint set, keeping the subchannels (and connections) of endpoints
  // that stay and shutting down the ones that left; then starts calls waiting for a first list.
  void UpdateEndpoints(Route& route, const std::vector<registry::ProviderInfo>& providers);
  void WaitForFirstList(Route& route, impl::CallData* call);
  std::shared_ptr<impl::Subchannel> Pick(Route& route, impl::CallData* call);
  void StartAttempt(impl::CallData* call);
  // Completes the call (all attempts) and reports it to the observer.
  void FinishCall(impl::CallData* call, Status status);
  void OnAttemptDone(impl::CallData* call, Status status, bool not_executed) override;
  void OnCanceledWhileParked(impl::CallData* call) override;
  std::vector<std::shared_ptr<Route>> AllRoutes();
  bool ShouldRetry(impl::CallData* call, const Status& status, bool not_executed,
                   impl::CallData::Clock::time_point now, std::chrono::milliseconds* backoff);
  impl::Subchannel::Options subchannel_options() const;
};

}  // namespace krpc
