#include "subchannel.h"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>

#include "krpc/impl/thread_check.h"
#include "krpc/log.h"
#include "transport_factory.h"

namespace krpc::impl {
namespace asio = boost::asio;

std::shared_ptr<Subchannel> Subchannel::Create(asio::io_context::executor_type executor, Endpoint endpoint,
                                               Options options, std::shared_ptr<EjectionGuard> ejection,
                                               std::shared_ptr<SubchannelObserver> observer,
                                               std::shared_ptr<LatencyWindow> route_latency, bool slow_start) {
  auto s = std::make_shared<Subchannel>(executor, std::move(endpoint), std::move(options));
  s->route_latency_ = std::move(route_latency);
  if (slow_start) s->load_->StartSlowStart(Clock::now());
  s->outlier_ = std::make_shared<OutlierDetector>(executor, s->address(), s->options_.breaker, std::move(ejection),
                                                  std::move(observer), std::weak_ptr<ProbeSender>(s));
  s->load_->set_outlier(s->outlier_);
  s->load_->set_on_stall([weak = std::weak_ptr<Subchannel>(s)] {
    if (auto self = weak.lock()) self->OnStall();
  });
  return s;
}

Subchannel::Subchannel(asio::io_context::executor_type executor, Endpoint endpoint, Options options)
    : executor_(std::move(executor)),
      endpoint_(std::move(endpoint)),
      options_(std::move(options)),
      load_(std::make_shared<EndpointLoad>(endpoint_.ToString(), std::chrono::milliseconds(options_.latency_decay_ms),
                                           options_.outlier.slow_start_ms, options_.outlier.slow_start_min_percent)),
      backoff_(options_.reconnect),
      reaper_timer_(executor_) {}

Subchannel::~Subchannel() = default;

void Subchannel::StartCall(Attempt* a) {
  load_->AttemptStarted(a->start);
  if (executor_.running_in_this_thread()) {
    StartOnLoop(a);
    return;
  }
  asio::post(executor_, [self = shared_from_this(), a] { self->StartOnLoop(a); });
}

// A picker found this endpoint stalled (any thread, once per stall): the outlier detector
// probes it and ejects it if the probe fails too.
void Subchannel::OnStall() {
  log::Get("client")->warn("{}: stalled ({} calls in flight, none completing): no new calls, probing", address(),
                           load_->inflight());
  asio::post(executor_, [weak = weak_from_this()] {
    if (auto self = weak.lock()) self->outlier_->OnStalled();
  });
}

void Subchannel::EjectAsOutlier(double latency_us, double median_us) {
  asio::post(executor_, [weak = weak_from_this(), latency_us, median_us] {
    auto self = weak.lock();
    if (!self) return;
    if (self->outlier_->EjectOutlier("latency " + std::to_string(static_cast<int64_t>(latency_us / 1000)) +
                                     " ms vs the peers' median " + std::to_string(static_cast<int64_t>(median_us / 1000)) +
                                     " ms")) {
      self->counters_.latency_ejections.fetch_add(1, std::memory_order_relaxed);
    }
  });
}

Transport* Subchannel::ChooseTransport() {
  // The least busy connection: one whose write queue has room first (bulk requests spread
  // over the pool instead of queueing behind each other), then the fewest calls in flight.
  Transport* best = nullptr;
  for (const auto& t : transports_) {
    if (!t->accepting()) continue;
    if (!best || std::pair(t->write_queue_full(), t->inflight()) < std::pair(best->write_queue_full(), best->inflight())) {
      best = t.get();
    }
  }
  const int max_size = options_.pool.enabled ? options_.pool.max_size : 1;
  const bool full = best && (static_cast<int>(best->inflight()) >= options_.pool.max_streams_per_connection ||
                             best->write_queue_full());
  if (best && (!full || static_cast<int>(transports_.size()) >= max_size)) {
    if (best->state() == Transport::State::kReady) counters_.reuses.fetch_add(1, std::memory_order_relaxed);
    return best;
  }
  if (static_cast<int>(transports_.size()) >= max_size) return best;
  auto t = MakeTransport(executor_, endpoint_, options_.connection, weak_from_this(), options_.tls);
  transports_.push_back(t);
  if (state() != State::kReady) SetState(State::kConnecting);
  t->Connect();
  UpdateCounts();
  ArmReaper();
  return t.get();
}

void Subchannel::StartOnLoop(Attempt* call) {
  KRPC_ASSERT_IN_LOOP(executor_.running_in_this_thread());
  if (state() == State::kShutdown) {
    OnAttemptEnded(call, Status(StatusCode::kUnavailable, retired_ ? address() + " left the service" : "channel is shut down"),
                   true);
    return;
  }
  const auto until = load_->backoff_until();
  const auto now = Clock::now();
  const bool none_accepting = std::none_of(transports_.begin(), transports_.end(), [](auto& t) { return t->accepting(); });
  if (none_accepting && until != Clock::time_point{} && now < until) {
    const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(until - now);
    OnAttemptEnded(call,
                   Status(StatusCode::kUnavailable,
                          last_error_.message() + " (next connect attempt in " + std::to_string(wait.count()) + " ms)"),
                   true);
    return;
  }
  Transport* t = ChooseTransport();
  t->StartCall(call);
  UpdateCounts();
}

void Subchannel::UpdateCounts() {
  int active = 0, idle = 0;
  bool ready = false, connecting = false;
  for (const auto& t : transports_) {
    if (t->state() == Transport::State::kReady) ready = true;
    if (t->state() == Transport::State::kConnecting) connecting = true;
    (t->inflight() > 0 ? active : idle)++;
  }
  counters_.active.store(active, std::memory_order_relaxed);
  counters_.idle.store(idle, std::memory_order_relaxed);
  if (state() == State::kShutdown) return;
  if (ready) SetState(State::kReady);
  else if (connecting) SetState(State::kConnecting);
  else if (state() != State::kBackoff) SetState(State::kIdle);
}

void Subchannel::Forget(Transport* t) {
  std::erase_if(transports_, [t](const auto& p) { return p.get() == t; });
  std::erase_if(draining_, [t](const auto& p) { return p.get() == t; });
  std::erase_if(idle_seen_, [t](const auto& p) { return p.get() == t; });
  NoteRetiredAndClosed();
}

void Subchannel::NoteRetiredAndClosed() {
  if (retired_ && transports_.empty() && draining_.empty()) retired_and_closed_.store(true, std::memory_order_release);
}

void Subchannel::OnTransportReady(Transport*) {
  backoff_.Reset();
  load_->set_backoff_until({});
  counters_.connects.fetch_add(1, std::memory_order_relaxed);
  SetState(State::kReady);
  UpdateCounts();
}

void Subchannel::OnTransportDraining(Transport* t) {
  KRPC_ASSERT_IN_LOOP(executor_.running_in_this_thread());
  // The transport finishes its calls on its own; new calls get another connection.
  auto keep = std::find_if(transports_.begin(), transports_.end(), [t](auto& p) { return p.get() == t; });
  if (keep != transports_.end()) {
    auto hold = *keep;
    Forget(t);
    draining_.push_back(std::move(hold));  // Shutdown() closes it if it is still draining then
  }
  UpdateCounts();
}

void Subchannel::OnTransportClosed(Transport* t, const Status& why, bool was_ready, bool peer_silent) {
  KRPC_ASSERT_IN_LOOP(executor_.running_in_this_thread());
  const std::string tls_failure = t->tls_failure();  // before Forget, which may free `t`
  Forget(t);
  if (state() == State::kShutdown) return;
  if (peer_silent) outlier_->OnPeerSilent();  // hung: not even PONGs
  if (!tls_failure.empty()) {
    std::lock_guard lock(tls_mu_);
    ++tls_failures_[tls_failure];
  }
  if (was_ready || why.ok()) {
    // A working connection broke: reconnect at once on the next call, as gRPC does from IDLE.
    UpdateCounts();
    return;
  }
  counters_.connect_failures.fetch_add(1, std::memory_order_relaxed);
  const auto wait = backoff_.Next();
  load_->set_backoff_until(Clock::now() + wait);
  last_error_ = why;
  SetState(State::kBackoff);
  UpdateCounts();
  log::Get("client")->warn("{}: {}; next connect attempt in {} ms", address(), why.message(), wait.count());
}

void Subchannel::OnAttemptEnded(Attempt* a, Status status, bool not_executed) {
  KRPC_ASSERT_IN_LOOP(executor_.running_in_this_thread());
  if (a->subchannel.get() == this) {  // a call's attempt (health probes are not counted)
    const auto now = a->end = Clock::now();
    const bool failure = load_->AttemptEnded(status, now - a->start, now);
    UpdateCounts();
    if (status.ok() && route_latency_) {
      route_latency_->Record(
          static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(now - a->start).count()), now);
    }
    if (status.code() != StatusCode::kCancelled) outlier_->OnCallResult(failure, now);
  }
  a->Done(std::move(status), not_executed);
}

void Subchannel::ResetBackoff() {
  asio::dispatch(executor_, [self = shared_from_this()] {
    self->backoff_.Reset();
    self->load_->set_backoff_until({});
    if (self->state() == State::kBackoff) self->SetState(State::kIdle);
  });
}

void Subchannel::Retire() {
  asio::dispatch(executor_, [self = shared_from_this()] {
    if (self->state() == State::kShutdown) return;
    self->retired_ = true;
    self->SetState(State::kShutdown);
    self->outlier_->Shutdown();
    self->reaper_timer_.cancel();
    const auto transports = self->transports_;  // Retire() calls back into Forget and OnTransportDraining
    for (const auto& t : transports) t->Retire(self->address() + " left the service");
    self->UpdateCounts();
    self->NoteRetiredAndClosed();
  });
}

void Subchannel::Shutdown() {
  asio::dispatch(executor_, [self = shared_from_this()] {
    self->SetState(State::kShutdown);
    self->outlier_->Shutdown();
    self->reaper_timer_.cancel();
    auto transports = std::move(self->transports_);
    for (auto& t : self->draining_) transports.push_back(t);
    self->draining_.clear();
    for (auto& t : transports) t->Close(Status(StatusCode::kUnavailable, "channel is shut down"));
  });
}

}  // namespace krpc::impl
