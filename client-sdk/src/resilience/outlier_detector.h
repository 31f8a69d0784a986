// OutlierDetector: decides whether one endpoint stays in rotation. It owns the endpoint's
// circuit breaker and drives it: a failed call is a suspicion that sends health-check probes
// (so a slow or stuck endpoint that balancing already avoids is still ejected), a stall (calls
// in flight, none completing) sends a probe whose failure ejects at once, the route's latency
// sweep ejects an endpoint far slower than its peers, an opened
// breaker waits out its isolation and then probes half-open, and every ejection goes through
// the route-wide cap (EjectionGuard). The probes themselves are calls on the endpoint's
// connections, sent by its ProbeSender (the subchannel).
//
// Thread contract: created and driven on the endpoint's I/O thread; state() and the counters
// may be read from any thread.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <memory>
#include <string>

#include "circuit_breaker.h"

namespace krpc::impl {

// Shared by the endpoints of one route: caps how many may be ejected at once.
struct EjectionGuard {
  std::atomic<double> max_share{0.5};  // set by the channel, read by every endpoint's thread
  std::atomic<int> ejected{0};
  std::atomic<int> endpoints{0};
  std::atomic<uint64_t> refused{0};  // ejections the cap prevented
  bool TryEject();
  void Release() { ejected.fetch_sub(1); }
};

// Told about breaker transitions (for logs and metrics). Called on the endpoint's thread.
class SubchannelObserver {
 public:
  virtual ~SubchannelObserver() = default;
  virtual void OnBreakerTransition(const std::string& address, CircuitBreaker::State from, CircuitBreaker::State to) = 0;
};

// Sends one health-check probe to the endpoint; the result comes back through
// OutlierDetector::OnProbeDone. Endpoint thread.
class ProbeSender {
 public:
  virtual ~ProbeSender() = default;
  virtual void SendProbe() = 0;
  // Back in rotation after an ejection (the probes passed): start the slow-start ramp.
  virtual void OnRestored() {}
};

class OutlierDetector : public std::enable_shared_from_this<OutlierDetector> {
 public:
  using Clock = std::chrono::steady_clock;

  OutlierDetector(boost::asio::io_context::executor_type executor, std::string address, BreakerOptions options,
                  std::shared_ptr<EjectionGuard> ejection, std::shared_ptr<SubchannelObserver> observer,
                  std::weak_ptr<ProbeSender> prober);
  ~OutlierDetector();
  OutlierDetector(const OutlierDetector&) = delete;
  OutlierDetector& operator=(const OutlierDetector&) = delete;

  // Endpoint thread.
  void OnCallResult(bool failure, Clock::time_point now);
  // The peer sent nothing, not even PONGs, for the heartbeat window: it is hung.
  void OnPeerSilent();
  void OnProbeDone(bool ok);
  // Calls are in flight and none completes: probe now; a failed probe ejects.
  void OnStalled();
  // Ejects an outlier found by the route (through the cap). True when it was ejected.
  bool EjectOutlier(const std::string& why);
  void Shutdown();

  // Any thread.
  bool in_rotation() const { return breaker_.state() == CircuitBreaker::State::kClosed; }
  CircuitBreaker::State state() const { return breaker_.state(); }
  uint64_t transitions() const { return breaker_.transitions(); }

 private:
  void Trip();
  void ArmHalfOpen(Clock::time_point when);
  void Probe();

  const std::string address_;
  const BreakerOptions options_;
  const std::shared_ptr<EjectionGuard> ejection_;
  const std::shared_ptr<SubchannelObserver> observer_;
  const std::weak_ptr<ProbeSender> prober_;
  CircuitBreaker breaker_;
  boost::asio::steady_timer timer_;
  bool ejected_ = false;
  bool probing_ = false;  // a health probe is in flight
  bool stall_probe_ = false;  // the probe in flight checks a stall: its failure ejects
  bool shut_down_ = false;
  // The ejection cap's refusals are logged at most once per kCapLogInterval (a refused
  // endpoint that keeps failing trips again on every failure), with the count in between.
  Clock::time_point cap_logged_{};
  uint64_t cap_unlogged_ = 0;
};

}  // namespace krpc::impl
