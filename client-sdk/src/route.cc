#include "route.h"

#include <algorithm>
#include <map>

#include "krpc/impl/io_pool.h"
#include "resilience/latency_outliers.h"
#include "runtime_access.h"

namespace krpc::impl {
namespace asio = boost::asio;

Route::Route(std::shared_ptr<const RouteConfig> config, std::string service, std::weak_ptr<RouteCalls> calls)
    : config_(std::move(config)), service_(std::move(service)), calls_(std::move(calls)) {
  ejection_->max_share.store(config_->options.breaker.max_ejection_percent / 100.0);
}

void Route::Update(const std::vector<registry::ProviderInfo>& providers) {
  if (shut_down_.load()) return;
  std::vector<std::pair<std::shared_ptr<CallToken>, uint64_t>> waiting;
  {
    std::lock_guard lock(mu_);
    const auto old = endpoints_.load();
    auto next = std::make_shared<EndpointSet>();
    // Endpoints that stay keep their subchannel (connections, breaker, latency): found by
    // address in O(log n), so an update of 1,000 providers stays linear-logarithmic.
    std::map<Endpoint, std::shared_ptr<Subchannel>> known;
    if (old) {
      for (const auto& s : old->subchannels) known.emplace(s->endpoint(), s);
    }
    for (const auto& p : providers) {
      std::shared_ptr<Subchannel> keep;
      if (auto it = known.find(p.endpoint); it != known.end()) {
        keep = std::move(it->second);
        known.erase(it);
      }
      if (!keep) {
        // An endpoint that joins a known set ramps up (slow start); the first list does not.
        keep = Subchannel::Create(RuntimeAccess::Io(*config_->runtime).Next().get_executor(), p.endpoint,
                                  config_->subchannel, ejection_, config_->observer, latency_,
                                  old != nullptr && !old->subchannels.empty());
      }
      keep->load().set_weight(p.weight);
      next->subchannels.push_back(std::move(keep));
    }
    EndpointList loads;
    loads.reserve(next->subchannels.size());
    for (const auto& sub : next->subchannels) loads.push_back(sub->load_ref());
    next->picker = config_->lb->Build(loads);
    endpoints_.store(next);
    resolved_.store(true, std::memory_order_release);
    waiting.swap(waiting_);
    if (old) {
      // Left the set: their calls in flight finish, new ones go to the endpoints that stay.
      std::erase_if(retiring_, [](const auto& s) { return s->retired_and_closed(); });
      for (const auto& [endpoint, s] : known) {
        s->Retire();
        retiring_.push_back(s);
      }
      // A changed endpoint set is news: endpoints that stay are worth a fresh try at once.
      for (const auto& s : next->subchannels) s->ResetBackoff();
    }
  }
  auto calls = calls_.lock();
  for (auto& [token, seq] : waiting) {
    if (auto* call = CallToken::Resume(token, CallState::kWaitingForList); call && calls) calls->ResumeCall(call);
  }
}

void Route::WaitForFirstList(CallData* call) {
  auto token = call->Park(CallState::kWaitingForList);
  auto calls = calls_.lock();
  if (!calls) return;
  if (!token) return calls->FinishCall(call, Status(StatusCode::kCancelled, "call cancelled by the client"));
  uint64_t seq = 0;
  {
    std::lock_guard lock(mu_);
    if (!resolved()) {
      seq = next_wait_++;
      waiting_.emplace_back(token, seq);
    }
  }
  if (seq == 0) {  // the list arrived meanwhile
    if (CallToken::Resume(token, CallState::kWaitingForList)) calls->ResumeCall(call);
    return;
  }
  if (call->deadline == Clock::time_point::max()) return;
  // Rare path (first calls of a service): one timer per waiting call bounds the wait. It holds
  // the call's token, not the call, which a cancel may have finished and freed meanwhile.
  auto timer = std::make_shared<asio::steady_timer>(RuntimeAccess::Io(*config_->runtime).ForTimer(), call->deadline);
  timer->async_wait([weak = weak_from_this(), timer, token, seq](const boost::system::error_code&) {
    if (auto self = weak.lock()) self->OnWaitExpired(token, seq);
  });
}

void Route::OnWaitExpired(const std::shared_ptr<CallToken>& token, uint64_t seq) {
  {
    std::lock_guard lock(mu_);
    std::erase_if(waiting_, [&](auto& w) { return w.second == seq; });
  }
  auto calls = calls_.lock();
  if (auto* c = CallToken::Resume(token, CallState::kWaitingForList); c && calls) {
    calls->FinishCall(c, Status(StatusCode::kDeadlineExceeded,
                                "no provider list for " + service_ + " from ZooKeeper before the deadline"));
  }
}

Route::Clock::duration Route::StallThreshold(Clock::time_point now) const {
  const auto& o = config_->options.outlier;
  const auto p99 = std::chrono::microseconds(latency_->Quantile(now));
  const auto scaled = std::chrono::duration_cast<std::chrono::microseconds>(p99 * o.stall_factor);
  return std::max<Clock::duration>(scaled, std::chrono::milliseconds(o.stall_min_ms));
}

std::shared_ptr<Subchannel> Route::Pick(CallData* call, Clock::time_point now, bool repeat) {
  auto set = endpoints_.load();
  if (!set || set->subchannels.empty()) return nullptr;
  Selectable ok;
  ok.exclude = call->tried;
  ok.n_exclude = call->n_tried;
  ok.now = now;
  ok.stall_after = StallThreshold(now);
  // Panic: too few healthy endpoints left, so spread over all of them (Envoy's panic threshold).
  ok.ignore_health = Panicking(*set, now);
  if (ok.ignore_health) panic_picks_.fetch_add(1, std::memory_order_relaxed);
  PickContext ctx{call->request_key, call->has_request_key};
  int at = set->picker->Pick(ctx, ok);
  if (at < 0) {  // only endpoints in their slow-start ramp were left: they take it
    ok.slow_start = false;
    at = set->picker->Pick(ctx, ok);
  }
  if (at < 0 && ok.n_exclude > 0) {  // every healthy endpoint was tried
    if (!repeat) return nullptr;
    ok.n_exclude = 0;
    at = set->picker->Pick(ctx, ok);
  }
  if (at < 0) {
    ok.ignore_health = true;
    panic_picks_.fetch_add(1, std::memory_order_relaxed);
    at = set->picker->Pick(ctx, ok);
  }
  return at < 0 ? nullptr : set->subchannels[static_cast<size_t>(at)];
}

bool Route::Panicking(const EndpointSet& set, Clock::time_point now) const {
  const int threshold = config_->options.panic_threshold_percent;
  if (threshold <= 0) return false;
  const size_t n = set.subchannels.size();
  const auto count = [&] {
    size_t healthy = 0;
    for (const auto& s : set.subchannels) healthy += s->load().healthy();
    return healthy * 100 < static_cast<size_t>(threshold) * n;
  };
  if (n <= EndpointSet::kExactPanicUpTo) return count();
  const int64_t t = now.time_since_epoch().count();
  constexpr int64_t kRecount = std::chrono::nanoseconds(std::chrono::milliseconds(1)).count();
  const int64_t last = set.panic_checked_ns.load(std::memory_order_relaxed);
  if (last == 0 || t - last >= kRecount) {
    set.panic_checked_ns.store(t, std::memory_order_relaxed);  // racing recounts agree closely enough
    set.panic.store(count(), std::memory_order_relaxed);
  }
  return set.panic.load(std::memory_order_relaxed);
}

void Route::StartSweep() { ArmSweep(); }

void Route::ArmSweep() {
  const int interval = config_->options.outlier.interval_ms;
  if (interval <= 0 || shut_down_.load()) return;
  if (!sweep_) sweep_ = std::make_unique<asio::steady_timer>(RuntimeAccess::Io(*config_->runtime).ForTimer());
  sweep_->expires_after(std::chrono::milliseconds(interval));
  sweep_->async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
    auto self = weak.lock();
    if (ec || !self || self->shut_down_.load()) return;
    self->Sweep();
    self->ArmSweep();
  });
}

// Ejects the endpoints much slower than their peers over the last interval.
void Route::Sweep() {
  auto set = endpoints_.load();
  if (!set || set->subchannels.size() < 2) return;
  std::vector<EndpointSample> samples;
  for (const auto& s : set->subchannels) {
    EndpointSample e;
    s->load().TakeInterval(&e.calls, &e.latency_us);
    e.in_rotation = s->load().healthy();
    samples.push_back(e);
  }
  double median_us = 0;
  for (size_t i : LatencyOutliers(samples, config_->options.outlier, &median_us)) {
    set->subchannels[i]->EjectAsOutlier(static_cast<double>(samples[i].latency_us) / static_cast<double>(samples[i].calls),
                                        median_us);
  }
}

void Route::Shutdown() {
  shut_down_.store(true);
  std::vector<std::pair<std::shared_ptr<CallToken>, uint64_t>> waiting;
  std::vector<std::shared_ptr<Subchannel>> retiring;
  {
    std::lock_guard lock(mu_);
    waiting.swap(waiting_);
    retiring.swap(retiring_);
  }
  for (const auto& s : retiring) s->Shutdown();
  auto calls = calls_.lock();
  for (auto& [token, seq] : waiting) {
    if (auto* call = CallToken::Resume(token, CallState::kWaitingForList); call && calls) {
      calls->FinishCall(call, Status(StatusCode::kUnavailable, "channel is shut down"));
    }
  }
  if (auto set = endpoints_.load()) {
    for (const auto& s : set->subchannels) s->Shutdown();
  }
}

}  // namespace krpc::impl
