// Subchannel: one endpoint as the client sees it: a pool of multiplexed transports
// (reconnect backoff initial * multiplier^n with jitter, reset once connected or when
// discovery changes; idle connections closed), its OutlierDetector (breaker, probes,
// ejection cap), and what the load balancer reads: the latency EWMA, the in-flight count,
// whether it is stalled (calls in flight, none completing) and its slow-start share.
// Lives on one I/O thread; StartCall may be called from any thread; the read accessors are
// atomics and safe anywhere.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <vector>

#include "resilience/circuit_breaker.h"
#include "resilience/latency_ewma.h"
#include "resilience/latency_window.h"
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

  // Any thread.
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
  void set_weight(int w) { weight_.store(w, std::memory_order_relaxed); }
  const Endpoint& endpoint() const { return endpoint_; }
  const std::string& address() const { return address_; }
  State state() const { return state_.load(std::memory_order_relaxed); }
  // Usable for new calls: breaker closed and not waiting out a reconnect backoff.
  bool healthy() const;
  int weight() const { return weight_.load(std::memory_order_relaxed); }
  uint64_t inflight() const { return inflight_.load(std::memory_order_relaxed); }
  const LatencyEwma& ewma() const { return ewma_; }
  CircuitBreaker::State breaker_state() const { return outlier_->state(); }
  uint64_t breaker_transitions() const { return outlier_->transitions(); }
  uint64_t connects() const { return connects_.load(std::memory_order_relaxed); }
  uint64_t connect_failures() const { return connect_failures_.load(std::memory_order_relaxed); }
  // Failed TLS handshakes by reason (any thread).
  std::map<std::string, uint64_t> tls_failures() const {
    std::lock_guard lock(tls_mu_);
    return tls_failures_;
  }
  uint64_t reuses() const { return reuses_.load(std::memory_order_relaxed); }
  int connections_active() const { return active_.load(std::memory_order_relaxed); }
  int connections_idle() const { return idle_.load(std::memory_order_relaxed); }

  // An attempt went out more than `threshold` ago and no answer has come since (attempts that
  // were cancelled meanwhile, e.g. losing hedges, still count): frozen, or cut off.
  bool stalled(Clock::time_point now, Clock::duration threshold) const;
  // An answer came (a call's or a health check's): the endpoint is making progress.
  void MarkProgress(Clock::time_point now) {
    first_unanswered_ns_.store(inflight() > 0 ? now.time_since_epoch().count() : 0, std::memory_order_relaxed);
    stall_reported_.store(false, std::memory_order_relaxed);
  }
  // Found stalled by a pick: tells the outlier detector (once per stall), which probes it and
  // ejects it if the probe fails too.
  void SuspectStall();
  uint64_t stalls() const { return stalls_.load(std::memory_order_relaxed); }
  // Share of a full load it may take now: 1 unless in its slow-start ramp.
  double SlowStartShare(Clock::time_point now) const;
  void StartSlowStart(Clock::time_point now);
  // Successful calls and their summed latency since the last call (the latency sweep's view).
  void TakeInterval(uint64_t* calls, uint64_t* latency_us);
  // Ejected by the route's latency sweep (through the ejection cap).
  void EjectAsOutlier(double latency_us, double median_us);
  uint64_t latency_ejections() const { return latency_ejections_.load(std::memory_order_relaxed); }

  // The channel reports each attempt here: started (any thread), ended (subchannel's thread).
  void CallStarted(Clock::time_point now) {
    inflight_.fetch_add(1, std::memory_order_relaxed);
    int64_t none = 0;
    first_unanswered_ns_.compare_exchange_strong(none, now.time_since_epoch().count(), std::memory_order_relaxed);
  }
  void CallEnded(const Status& status, Clock::duration latency, Clock::time_point now);

  // TransportListener (owning thread).
  void OnTransportReady(Transport* t) override;
  void OnTransportDraining(Transport* t) override;
  void OnTransportClosed(Transport* t, const Status& why, bool was_ready, bool peer_silent) override;
  // ProbeSender (owning thread): one health check on this endpoint's connections.
  void SendProbe() override;
  void OnRestored() override {
    MarkProgress(Clock::now());
    StartSlowStart(Clock::now());
  }

 private:
  class Probe;
  void StartOnLoop(Attempt* attempt);
  Transport* ChooseTransport();
  void Forget(Transport* t);
  void UpdateCounts();
  void NoteRetiredAndClosed();
  void SetState(State s) { state_.store(s, std::memory_order_relaxed); }
  void ArmReaper();
  void Reap();

  boost::asio::io_context::executor_type executor_;
  const Endpoint endpoint_;
  const std::string address_;
  const Options options_;
  std::shared_ptr<OutlierDetector> outlier_;  // set by Create(), before the subchannel is shared
  std::vector<std::shared_ptr<Transport>> transports_;
  std::vector<std::shared_ptr<Transport>> draining_;   // GOAWAY received: finishing their calls
  std::vector<std::shared_ptr<Transport>> idle_seen_;  // idle at the last reaper tick
  std::chrono::milliseconds next_backoff_;
  Status last_error_;
  std::minstd_rand rng_;
  LatencyEwma ewma_;
  std::shared_ptr<Probe> probe_;  // created on first use; holds this subchannel weakly
  std::shared_ptr<LatencyWindow> route_latency_;
  boost::asio::steady_timer reaper_timer_;
  bool reaper_armed_ = false;
  bool retired_ = false;
  std::atomic<bool> retired_and_closed_{false};
  std::atomic<State> state_{State::kIdle};
  std::atomic<int64_t> backoff_until_{0};  // steady_clock ticks
  std::atomic<int> weight_{100};
  std::atomic<uint64_t> inflight_{0};
  std::atomic<int64_t> first_unanswered_ns_{0};  // the first attempt sent since the last answer (0: none)
  std::atomic<bool> stall_reported_{false};      // until the next answer
  std::atomic<uint64_t> stalls_{0};
  std::atomic<int64_t> ramp_start_ns_{0};     // slow start began (0: not ramping)
  std::atomic<uint64_t> interval_calls_{0};
  std::atomic<uint64_t> interval_latency_us_{0};
  std::atomic<uint64_t> latency_ejections_{0};
  std::atomic<uint64_t> connects_{0};
  std::atomic<uint64_t> connect_failures_{0};
  mutable std::mutex tls_mu_;  // guards tls_failures_ (written on a failed handshake only)
  std::map<std::string, uint64_t> tls_failures_;
  std::atomic<uint64_t> reuses_{0};
  std::atomic<int> active_{0};
  std::atomic<int> idle_{0};
};

}  // namespace krpc::impl
