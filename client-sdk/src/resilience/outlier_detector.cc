#include "outlier_detector.h"

#include <utility>

#include "krpc/log.h"

namespace krpc::impl {
namespace {
constexpr auto kCapLogInterval = std::chrono::seconds(10);
}  // namespace

bool EjectionGuard::TryEject() {
  const int limit = static_cast<int>(max_share.load(std::memory_order_relaxed) * endpoints.load());
  int cur = ejected.load();
  while (cur < limit) {
    if (ejected.compare_exchange_weak(cur, cur + 1)) return true;
  }
  refused.fetch_add(1);
  return false;
}

OutlierDetector::OutlierDetector(boost::asio::io_context::executor_type executor, std::string address,
                                 BreakerOptions options, std::shared_ptr<EjectionGuard> ejection,
                                 std::shared_ptr<SubchannelObserver> observer, std::weak_ptr<ProbeSender> prober)
    : address_(std::move(address)),
      options_(options),
      ejection_(std::move(ejection)),
      observer_(std::move(observer)),
      prober_(std::move(prober)),
      breaker_(options),
      timer_(executor) {
  if (ejection_) ejection_->endpoints.fetch_add(1);
}

OutlierDetector::~OutlierDetector() {
  if (ejection_) {
    ejection_->endpoints.fetch_sub(1);
    if (ejected_) ejection_->Release();
  }
}

void OutlierDetector::Probe() {
  if (auto p = prober_.lock()) {
    probing_ = true;
    p->SendProbe();
  }
}

void OutlierDetector::OnCallResult(bool failure, Clock::time_point now) {
  if (breaker_.OnResult(failure, now)) {
    Trip();
  } else if (failure && !probing_ && options_.enabled && !shut_down_) {
    Probe();  // a failure is a suspicion: check the endpoint's health directly
  }
}

void OutlierDetector::OnPeerSilent() {
  // Eject a hung peer now rather than waiting for enough timeouts (latency-aware balancing
  // sends it too few calls to count them).
  if (breaker_.state() == CircuitBreaker::State::kClosed && options_.enabled) Trip();
}

void OutlierDetector::OnStalled() {
  if (breaker_.state() != CircuitBreaker::State::kClosed || !options_.enabled || shut_down_) return;
  stall_probe_ = true;
  if (!probing_) Probe();
}

bool OutlierDetector::EjectOutlier(const std::string& why) {
  if (breaker_.state() != CircuitBreaker::State::kClosed || !options_.enabled || shut_down_) return false;
  log::Get("client")->warn("{}: outlier ({}): ejecting", address_, why);
  Trip();
  return ejected_;
}

void OutlierDetector::Trip() {
  if (!ejected_ && ejection_ && !ejection_->TryEject()) {
    breaker_.Reset();  // the ejection cap holds: keep it in rotation
    const auto now = Clock::now();
    if (cap_logged_ != Clock::time_point{} && now - cap_logged_ < kCapLogInterval) {
      ++cap_unlogged_;
      return;
    }
    log::Get("client")->warn("{}: breaker would open, but the ejection cap ({}% of endpoints) is reached{}", address_,
                             static_cast<int>(ejection_->max_share.load() * 100),
                             cap_unlogged_ ? " (" + std::to_string(cap_unlogged_) + " more times since the last report)"
                                           : std::string());
    cap_logged_ = now;
    cap_unlogged_ = 0;
    return;
  }
  ejected_ = true;
  const auto from = breaker_.state();
  const auto until = breaker_.Open(Clock::now());
  log::Get("client")->warn("{}: breaker open for {} ms ({} -> open)", address_,
                           std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count(),
                           ToString(from));
  if (observer_) observer_->OnBreakerTransition(address_, from, CircuitBreaker::State::kOpen);
  ArmHalfOpen(until);
}

void OutlierDetector::ArmHalfOpen(Clock::time_point when) {
  timer_.expires_at(when);
  timer_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
    auto self = weak.lock();
    if (ec || !self || self->shut_down_) return;
    if (self->probing_) {  // a suspicion probe is still out: its result decides
      self->ArmHalfOpen(Clock::now() + std::chrono::milliseconds(50));
      return;
    }
    self->breaker_.EnterHalfOpen();
    log::Get("client")->info("{}: breaker half-open, probing with {} health checks", self->address_,
                             self->options_.half_open_probes);
    if (self->observer_) {
      self->observer_->OnBreakerTransition(self->address_, CircuitBreaker::State::kOpen, CircuitBreaker::State::kHalfOpen);
    }
    self->Probe();
  });
}

void OutlierDetector::OnProbeDone(bool ok) {
  probing_ = false;
  const bool stall_probe = std::exchange(stall_probe_, false);
  if (breaker_.state() == CircuitBreaker::State::kClosed && stall_probe && !ok) {
    log::Get("client")->warn("{}: stalled and its health check failed", address_);
    Trip();  // stalled, and not even a health check answers: frozen or cut off
    return;
  }
  if (breaker_.state() == CircuitBreaker::State::kClosed) {
    // Suspicion probing: each failed health check counts like a failed call, so a slow or
    // stuck endpoint that balancing already avoids is still ejected within a few probes.
    if (breaker_.OnResult(!ok, Clock::now())) {
      Trip();
    } else if (!ok && !shut_down_) {
      Probe();
    }
    return;
  }
  const auto state = breaker_.OnProbeResult(ok, Clock::now());
  if (state == CircuitBreaker::State::kHalfOpen) {
    Probe();  // more probes must pass
    return;
  }
  if (observer_) observer_->OnBreakerTransition(address_, CircuitBreaker::State::kHalfOpen, state);
  if (state == CircuitBreaker::State::kClosed) {
    if (ejected_ && ejection_) ejection_->Release();
    ejected_ = false;
    log::Get("client")->info("{}: breaker closed (probes passed), back in rotation", address_);
    if (auto p = prober_.lock()) p->OnRestored();
  } else {
    log::Get("client")->warn("{}: probe failed, breaker re-opened for {} ms", address_,
                             std::chrono::duration_cast<std::chrono::milliseconds>(breaker_.open_until() - Clock::now()).count());
    ArmHalfOpen(breaker_.open_until());
  }
}

void OutlierDetector::Shutdown() {
  shut_down_ = true;
  timer_.cancel();
}

}  // namespace krpc::impl
