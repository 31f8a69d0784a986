// Subchannel: one endpoint as the client sees it: a pool of multiplexed transports
// (ReconnectBackoff after a failed connect; idle connections closed) and its OutlierDetector (breaker, probes,
// ejection cap). What the load balancer reads (latency, in flight, stall, slow start) is its
// EndpointLoad, which it keeps current: an attempt is counted when it starts here and when
// its transport ends it (the subchannel is the transport's listener), before the channel
// hears of the end, so a reply only climbs up: transport -> subchannel -> channel.
// Lives on one I/O thread; StartCall may be called from any thread; the read accessors are
// atomics and safe anywhere.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "endpoint_load.h"
#include "resilience/circuit_breaker.h"
#include "resilience/latency_window.h"
#include "resilience/reconnect_backoff.h"
#include "resilience/outlier_detector.h"
#include "transport.h"

namespace krpc::impl {

class Subchannel : public TransportListener, public ProbeSender, public std::enable_shared_from_this<Subchannel> {
 public:
  using Clock = std::chrono::steady_clock;
  using State = EndpointState;

  // The channel's own option parts, as they are.
  struct Options {
    ConnectionOptions connection;
    ReconnectBackoffOptions reconnect;
    PoolOptions pool;
    BreakerOptions breaker;
    OutlierOptions outlier;
    int latency_decay_ms = 2000;
    std::shared_ptr<net::TlsContext> tls;  // null: plaintext
  };

  // `route_latency`: the latency of the route's calls, fed by every endpoint of the route
  // (the peers' p99 that stall detection compares with). `slow_start`: ramp up from now.
  static std::shared_ptr<Subchannel> Create(boost::asio::io_context::executor_type executor, Endpoint endpoint,
                                            Options options, std::shared_ptr<EjectionGuard> ejection,
                                            std::shared_ptr<SubchannelObserver> observer,
                                            std::shared_ptr<LatencyWindow> route_latency = nullptr,
                                            bool slow_start = false);
  // Use Create() (the outlier detector needs a weak reference to this subchannel).
  Subchannel(boost::asio::io_context::executor_type executor, Endpoint endpoint, Options options);
  ~Subchannel() override;

  // Any thread: counts the attempt as started (at attempt->start) and sends it. Its end is
  // counted here too, then reported to the call's sink.
  void StartCall(Attempt* attempt);
  // Ends everything now: calls in flight fail (the channel is going away).
  void Shutdown();
  // Left the endpoint set: takes no new call (those go elsewhere, not executed) but lets the
  // calls on its connections finish, then closes each connection, as gRPC and Envoy do when
  // discovery drops a host. A write in flight to a node that deregistered is not lost.
  void Retire();
  // Retired, and every connection it had is closed (any thread).
  bool retired_and_closed() const { return retired_and_closed_.load(std::memory_order_acquire); }
  void ResetBackoff();
  const Endpoint& endpoint() const { return endpoint_; }
  const std::string& address() const { return load_->address(); }
  State state() const { return state_.load(std::memory_order_relaxed); }
  // What pickers read (any thread); shared, so a picker may hold it without the subchannel.
  EndpointLoad& load() { return *load_; }
  const EndpointLoad& load() const { return *load_; }
  const std::shared_ptr<EndpointLoad>& load_ref() const { return load_; }
  CircuitBreaker::State breaker_state() const { return outlier_->state(); }
  uint64_t breaker_transitions() const { return outlier_->transitions(); }
  // What it counted (any thread).
  struct Counters {
    std::atomic<uint64_t> connects{0};          // connections made
    std::atomic<uint64_t> connect_failures{0};
    std::atomic<uint64_t> reuses{0};            // calls that reused an open connection
    std::atomic<uint64_t> latency_ejections{0};
    std::atomic<int> active{0};                 // connections with calls in flight
    std::atomic<int> idle{0};
  };
  const Counters& counters() const { return counters_; }
  // Failed TLS handshakes by reason (any thread).
  std::map<std::string, uint64_t> tls_failures() const {
    std::lock_guard lock(tls_mu_);
    return tls_failures_;
  }

  // Ejected by the route's latency sweep (through the ejection cap).
  void EjectAsOutlier(double latency_us, double median_us);

  // TransportListener (owning thread).
  void OnTransportReady(Transport* t) override;
  void OnTransportDraining(Transport* t) override;
  void OnTransportClosed(Transport* t, const Status& why, bool was_ready, bool peer_silent) override;
  // Counts the end of an attempt this subchannel started, then reports it to the call.
  void OnAttemptEnded(Attempt* attempt, Status status, bool not_executed) override;
  // ProbeSender (owning thread): one health check on this endpoint's connections.
  void SendProbe() override;
  void OnRestored() override {
    load_->MarkProgress(Clock::now());
    load_->StartSlowStart(Clock::now());
  }

 private:
  class Probe;
  void StartOnLoop(Attempt* attempt);
  void OnStall();
  Transport* ChooseTransport();
  void Forget(Transport* t);
  void UpdateCounts();
  void NoteRetiredAndClosed();
  void SetState(State s) { state_.store(s, std::memory_order_relaxed); }
  void ArmReaper();
  void Reap();

  boost::asio::io_context::executor_type executor_;
  const Endpoint endpoint_;
  const Options options_;
  const std::shared_ptr<EndpointLoad> load_;
  std::shared_ptr<OutlierDetector> outlier_;  // set by Create(), before the subchannel is shared
  std::vector<std::shared_ptr<Transport>> transports_;
  std::vector<std::shared_ptr<Transport>> draining_;   // GOAWAY received: finishing their calls
  std::vector<std::shared_ptr<Transport>> idle_seen_;  // idle at the last reaper tick
  ReconnectBackoff backoff_;
  Status last_error_;
  std::shared_ptr<Probe> probe_;  // created on first use; holds this subchannel weakly
  std::shared_ptr<LatencyWindow> route_latency_;
  boost::asio::steady_timer reaper_timer_;
  bool reaper_armed_ = false;
  bool retired_ = false;
  std::atomic<bool> retired_and_closed_{false};
  std::atomic<State> state_{State::kIdle};
  mutable std::mutex tls_mu_;  // guards tls_failures_ (written on a failed handshake only)
  std::map<std::string, uint64_t> tls_failures_;
  Counters counters_;
};

}  // namespace krpc::impl
