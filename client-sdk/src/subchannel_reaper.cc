// The subchannel's pool upkeep: connections idle at two reaper ticks in a row
// (idle_timeout_ms / 2 apart) beyond connection_pool_max_idle are closed.
#include "subchannel.h"

namespace krpc::impl {

void Subchannel::ArmReaper() {
  if (reaper_armed_ || options_.pool.idle_timeout_ms <= 0) return;
  reaper_armed_ = true;
  reaper_timer_.expires_after(std::chrono::milliseconds(options_.pool.idle_timeout_ms / 2));
  reaper_timer_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
    auto self = weak.lock();
    if (ec || !self) return;
    self->reaper_armed_ = false;
    self->Reap();
  });
}

void Subchannel::Reap() {
  // Idle at two ticks in a row (>= idle_timeout/2 apart) and beyond max_idle: close it.
  std::vector<std::shared_ptr<Transport>> idle_now;
  for (const auto& t : transports_) {
    if (t->state() == Transport::State::kReady && t->inflight() == 0) idle_now.push_back(t);
  }
  int keep = options_.pool.max_idle;
  for (const auto& t : idle_now) {
    const bool was_idle = std::find(idle_seen_.begin(), idle_seen_.end(), t) != idle_seen_.end();
    if (was_idle && keep-- <= 0) t->Close(Status::Ok());
  }
  idle_seen_ = std::move(idle_now);
  UpdateCounts();
  if (!transports_.empty()) ArmReaper();
}

}  // namespace krpc::impl
