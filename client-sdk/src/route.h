// Route: the endpoints of one service as a channel sees them, and everything that works on
// that set: the first-list wait (calls parked until the resolver's first answer), the pick
// (panic mode, stall detection, slow start, endpoints a call already tried), the stall
// threshold, and the periodic latency outlier sweep. The endpoint set is an immutable snapshot
// replaced whole when the resolver reports a change, so a pick takes no lock.
//
// Threading: Pick, StallThreshold and the accessors run on any thread; Update on the
// resolver's thread; the sweep on a timer thread. Lifetime: held by its RouteTable; timers and
// resolver listeners hold it weakly.
#pragma once

#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "call_data.h"
#include "krpc/channel.h"
#include "krpc/client_runtime.h"
#include "krpc/impl/snapshot.h"
#include "krpc/registry_layout.h"
#include "lb/load_balancer.h"
#include "subchannel.h"

namespace krpc::impl {

// What every route of a channel shares, fixed when the channel is created.
struct RouteConfig {
  ChannelOptions options;
  LoadBalancerRegistry lb_registry = LoadBalancerRegistry::WithBuiltins();
  const LoadBalancerPolicy* lb = nullptr;  // in lb_registry
  Subchannel::Options subchannel;
  std::shared_ptr<SubchannelObserver> observer;  // breaker transitions (may be null)
  std::shared_ptr<ClientRuntime> runtime;        // I/O threads for subchannels and timers
};

// What a route asks of the calls it holds while they wait for the first list.
class RouteCalls {
 public:
  virtual ~RouteCalls() = default;
  // The first list arrived: the call goes on to its attempt.
  virtual void ResumeCall(CallData* call) = 0;
  // The call ends here (its deadline passed while parked, or the channel shut down).
  virtual void FinishCall(CallData* call, Status status) = 0;
};

// The endpoints a route spreads calls over, at one moment.
struct EndpointSet {
  std::vector<std::shared_ptr<Subchannel>> subchannels;
  std::unique_ptr<Picker> picker;  // built from the subchannels' loads, in the same order
  // The panic decision of large sets (healthy share under panic_threshold_percent), counted at
  // most once a millisecond: counting health is O(endpoints), and a pick must not be.
  static constexpr size_t kExactPanicUpTo = 16;
  mutable std::atomic<int64_t> panic_checked_ns{0};  // 0: never
  mutable std::atomic<bool> panic{false};
};

class Route : public std::enable_shared_from_this<Route> {
 public:
  using Clock = CallData::Clock;
  Route(std::shared_ptr<const RouteConfig> config, std::string service, std::weak_ptr<RouteCalls> calls);

  // The service ("" for a static target's single route).
  const std::string& service() const { return service_; }
  std::shared_ptr<const EndpointSet> endpoints() const { return endpoints_.load(); }
  // The resolver has answered at least once.
  bool resolved() const { return resolved_.load(std::memory_order_acquire); }

  // The resolver's answer: replaces the endpoint set, keeping the subchannels (and
  // connections) of endpoints that stay and retiring the ones that left; then resumes the
  // calls waiting for a first list.
  void Update(const std::vector<registry::ProviderInfo>& providers);
  // Parks `call` until the first list, or until its deadline (DEADLINE_EXCEEDED).
  void WaitForFirstList(CallData* call);
  // An endpoint for the call's next attempt, or null. `repeat`: an endpoint the call tried
  // already may be picked when no other qualifies.
  std::shared_ptr<Subchannel> Pick(CallData* call, Clock::time_point now, bool repeat);
  // The stall threshold now: stall_factor x the route's p99, at least stall_min_ms.
  Clock::duration StallThreshold(Clock::time_point now) const;
  // Starts the latency outlier sweep (every outlier_interval_ms; none when 0).
  void StartSweep();
  // Ends the route: parked calls fail UNAVAILABLE, every subchannel shuts down.
  void Shutdown();

  uint64_t panic_picks() const { return panic_picks_.load(std::memory_order_relaxed); }
  uint64_t ejections_refused() const { return ejection_->refused.load(std::memory_order_relaxed); }

 private:
  bool Panicking(const EndpointSet& set, Clock::time_point now) const;
  void ArmSweep();
  void Sweep();
  void OnWaitExpired(const std::shared_ptr<CallToken>& token, uint64_t seq);

  const std::shared_ptr<const RouteConfig> config_;
  const std::string service_;
  const std::weak_ptr<RouteCalls> calls_;
  Snapshot<EndpointSet> endpoints_;
  std::atomic<bool> resolved_{false};
  std::atomic<bool> shut_down_{false};
  std::atomic<uint64_t> panic_picks_{0};
  std::mutex mu_;  // updates and the calls waiting for the first list (never on the call path)
  std::vector<std::pair<std::shared_ptr<CallToken>, uint64_t>> waiting_;  // parked calls
  uint64_t next_wait_ = 1;
  // Endpoints that left the set and still finish calls (Subchannel::Retire); under mu_.
  std::vector<std::shared_ptr<Subchannel>> retiring_;
  const std::shared_ptr<EjectionGuard> ejection_ = std::make_shared<EjectionGuard>();
  const std::shared_ptr<LatencyWindow> latency_ = std::make_shared<LatencyWindow>(0.99);  // its calls' p99
  std::unique_ptr<boost::asio::steady_timer> sweep_;  // the latency outlier sweep
};

}  // namespace krpc::impl
