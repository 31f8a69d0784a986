// Subchannel: one endpoint as the client sees it: a pool of multiplexed transports
// (reconnect backoff initial * multiplier^n with jitter, reset once connected or when
// discovery changes; idle connections closed), its OutlierDetector (breaker, probes,
// ejection cap), and the latency EWMA and in-flight count the load balancer reads.
// Lives on one I/O thread; StartCall may be called from any thread; the read accessors are
// atomics and safe anywhere.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <memory>
#include <random>
#include <vector>

#include "resilience/circuit_breaker.h"
#include "resilience/latency_ewma.h"
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
    int latency_decay_ms = 2000;
  };

  static std::shared_ptr<Subchannel> Create(boost::asio::io_context::executor_type executor, Endpoint endpoint,
                                            Options options, std::shared_ptr<EjectionGuard> ejection,
                                            std::shared_ptr<SubchannelObserver> observer);
  // Use Create() (the outlier detector needs a weak reference to this subchannel).
  Subchannel(boost::asio::io_context::executor_type executor, Endpoint endpoint, Options options);
  ~Subchannel() override;

  // Any thread.
  void StartCall(CallData* call);
  void Shutdown();
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
  uint64_t reuses() const { return reuses_.load(std::memory_order_relaxed); }
  int connections_active() const { return active_.load(std::memory_order_relaxed); }
  int connections_idle() const { return idle_.load(std::memory_order_relaxed); }

  // The channel reports each attempt here (subchannel's thread).
  void CallStarted() { inflight_.fetch_add(1, std::memory_order_relaxed); }
  void CallEnded(const Status& status, Clock::duration latency);

  // TransportListener (owning thread).
  void OnTransportReady(Transport* t) override;
  void OnTransportDraining(Transport* t) override;
  void OnTransportClosed(Transport* t, const Status& why, bool was_ready, bool peer_silent) override;
  // ProbeSender (owning thread): one health check on this endpoint's connections.
  void SendProbe() override;

 private:
  class Probe;
  void StartOnLoop(CallData* call);
  Transport* ChooseTransport();
  void Forget(Transport* t);
  void UpdateCounts();
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
  boost::asio::steady_timer reaper_timer_;
  bool reaper_armed_ = false;
  std::atomic<State> state_{State::kIdle};
  std::atomic<int64_t> backoff_until_{0};  // steady_clock ticks
  std::atomic<int> weight_{100};
  std::atomic<uint64_t> inflight_{0};
  std::atomic<uint64_t> connects_{0};
  std::atomic<uint64_t> connect_failures_{0};
  std::atomic<uint64_t> reuses_{0};
  std::atomic<int> active_{0};
  std::atomic<int> idle_{0};
};

}  // namespace krpc::impl
