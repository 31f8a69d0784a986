// Channel::Impl: routes (the endpoint set of a service: an immutable snapshot swapped on
// discovery changes, so picking takes no lock), the pick, the route's latency sweep, and the
// attempts of every call (retries, per-try timeouts, hedges). A static target has one route
// for every service; a zk:// target has one per service, created on the first call and fed
// by ZooKeeper discovery.
#pragma once

#include <boost/asio/steady_timer.hpp>

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
#include "resilience/hedging_policy.h"
#include "resilience/latency_window.h"
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
  // The panic decision of large sets (healthy share under panic_threshold_percent), counted at
  // most once a millisecond: counting health is O(endpoints), and a pick must not be.
  static constexpr size_t kExactPanicUpTo = 16;
  mutable std::atomic<int64_t> panic_checked_ns{0};  // 0: never
  mutable std::atomic<bool> panic{false};
};

struct Route {
  std::string service;  // empty for a static target's single route
  impl::Snapshot<EndpointSet> endpoints;
  std::atomic<bool> resolved{false};
  std::mutex mu;  // updates and the calls waiting for the first list (never on the call path)
  std::vector<std::pair<std::shared_ptr<impl::CallToken>, uint64_t>> waiting;  // parked calls
  uint64_t next_wait = 1;
  uint64_t subscription = 0;
  // Endpoints that left the set and still finish calls (Subchannel::Retire); under `mu`.
  std::vector<std::shared_ptr<impl::Subchannel>> retiring;
  std::shared_ptr<impl::EjectionGuard> ejection = std::make_shared<impl::EjectionGuard>();
  std::shared_ptr<impl::LatencyWindow> latency = std::make_shared<impl::LatencyWindow>(0.99);  // its calls' p99
  std::unique_ptr<boost::asio::steady_timer> sweep;  // the latency outlier sweep
};

struct Channel::Impl final : impl::AttemptSink, std::enable_shared_from_this<Channel::Impl> {
  ChannelOptions options;
  std::shared_ptr<ClientRuntime> runtime;
  std::string target;
  std::atomic<bool> shut_down{false};
  const impl::LoadBalancerPolicy* lb = nullptr;
  impl::LoadBalancerRegistry lb_registry = impl::LoadBalancerRegistry::WithBuiltins();
  std::optional<impl::RetryPolicy> retry;  // set by Configure()
  std::optional<impl::HedgingPolicy> hedging;
  std::shared_ptr<net::TlsContext> tls;  // set by Configure() when connection.tls_enabled
  std::shared_ptr<impl::SubchannelObserver> observer;
  std::shared_ptr<ClientObserver> client_observer;
  std::atomic<uint64_t> calls{0};
  std::atomic<uint64_t> retries{0};
  std::atomic<uint64_t> transparent_retries{0};
  std::atomic<uint64_t> panic_picks{0};
  std::atomic<uint64_t> per_try_timeouts{0};
  std::atomic<uint64_t> hedges{0};
  std::atomic<uint64_t> hedges_won{0};

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
  // `repeat`: an endpoint the call tried already may be picked when no other qualifies.
  std::shared_ptr<impl::Subchannel> Pick(Route& route, impl::CallData* call, impl::CallData::Clock::time_point now,
                                         bool repeat);
  // Whether too few of `set` are healthy (panic_threshold_percent): exact for small sets,
  // recounted at most once a millisecond for large ones.
  bool Panicking(const EndpointSet& set, impl::CallData::Clock::time_point now) const;
  // The stall threshold of a route now: stall_factor x its p99, at least stall_min_ms.
  std::chrono::steady_clock::duration StallThreshold(const Route& route, impl::CallData::Clock::time_point now) const;
  // Every `outlier_interval_ms`: ejects endpoints much slower than their peers.
  void ArmSweep(const std::shared_ptr<Route>& route);
  void Sweep(Route& route);

  // The attempts of a call (call_attempts.cc).
  enum class AttemptKind { kFirst, kRetry, kHedge, kExtra };
  void StartCall(impl::CallData* call);
  // kFirst and kRetry start when no attempt is in flight; a kHedge (after the hedging delay)
  // or a kExtra (a retry while hedges still run) starts beside others, on an endpoint the
  // call has not tried, and is dropped silently when it cannot.
  // `now`: the time if the caller just read it (a call's first attempt starts at the call's
  // start); otherwise the clock is read here.
  void StartAttempt(impl::CallData* call, AttemptKind kind = AttemptKind::kFirst,
                    impl::CallData::Clock::time_point now = {});
  // Completes the call (all attempts) and reports it to the observer.
  void FinishCall(impl::CallData* call, Status status);
  void OnAttemptDone(impl::Attempt* attempt, Status status, bool not_executed) override;
  void OnHedgeDue(impl::Attempt* attempt) override;
  void OnCanceledWhileParked(impl::CallData* call) override;
  std::vector<std::shared_ptr<Route>> AllRoutes();
  // Under call->mu.
  bool TransparentRetry(const impl::CallData* call, const Status& status, bool not_executed,
                        impl::CallData::Clock::time_point now) const;
  void CountRetry(const impl::CallData* call, bool transparent);
  bool ShouldRetry(impl::CallData* call, const Status& status, bool not_executed, bool per_try_timeout,
                   impl::CallData::Clock::time_point now, std::chrono::milliseconds* backoff);
  void RetryAfter(impl::CallData* call, std::chrono::milliseconds backoff);
  impl::Subchannel::Options subchannel_options() const;
};

}  // namespace krpc
