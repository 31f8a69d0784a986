#include "subchannel.h"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>

#include "krpc/log.h"

namespace krpc::impl {
namespace asio = boost::asio;

const char* Subchannel::StateName(State s) {
  switch (s) {
    case State::kIdle: return "idle";
    case State::kConnecting: return "connecting";
    case State::kReady: return "ready";
    case State::kBackoff: return "backoff";
    case State::kShutdown: return "shutdown";
  }
  return "unknown";
}

Subchannel::Subchannel(asio::io_context::executor_type executor, Endpoint endpoint, TransportOptions transport_options,
                       BackoffOptions backoff)
    : executor_(std::move(executor)),
      endpoint_(std::move(endpoint)),
      address_(endpoint_.ToString()),
      transport_options_(transport_options),
      backoff_(backoff),
      next_backoff_(backoff.initial),
      rng_(std::random_device{}()) {}

Subchannel::~Subchannel() = default;

void Subchannel::StartCall(CallData* call) {
  if (executor_.running_in_this_thread()) {
    StartOnLoop(call);
    return;
  }
  asio::post(executor_, [self = shared_from_this(), call] { self->StartOnLoop(call); });
}

void Subchannel::StartOnLoop(CallData* call) {
  if (state() == State::kShutdown) {
    call->sink->OnAttemptDone(call, Status(StatusCode::kUnavailable, "channel is shut down"), true);
    return;
  }
  if (!transport_ || !transport_->accepting()) {
    const auto now = Clock::now();
    if (state() == State::kBackoff && now < retry_at_) {
      const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(retry_at_ - now);
      call->sink->OnAttemptDone(
          call,
          Status(StatusCode::kUnavailable,
                 last_error_.message() + " (next connect attempt in " + std::to_string(wait.count()) + " ms)"),
          true);
      return;
    }
    transport_ = std::make_shared<Transport>(executor_, endpoint_, transport_options_, weak_from_this());
    SetState(State::kConnecting);
    transport_->Connect();
  }
  transport_->StartCall(call);
}

void Subchannel::OnTransportReady(Transport* t) {
  if (t != transport_.get()) return;
  SetState(State::kReady);
  next_backoff_ = backoff_.initial;
  connects_.fetch_add(1, std::memory_order_relaxed);
}

void Subchannel::OnTransportDraining(Transport* t) {
  if (t != transport_.get()) return;
  transport_.reset();  // the transport finishes its calls on its own; new calls get a new one
  SetState(State::kIdle);
}

void Subchannel::OnTransportClosed(Transport* t, const Status& why, bool was_ready) {
  if (t != transport_.get()) return;
  transport_.reset();
  if (state() == State::kShutdown) return;
  if (was_ready || why.ok()) {
    // A working connection broke: reconnect at once on the next call, as gRPC does from IDLE.
    SetState(State::kIdle);
    return;
  }
  connect_failures_.fetch_add(1, std::memory_order_relaxed);
  std::uniform_real_distribution<double> jitter(1.0 - backoff_.jitter, 1.0 + backoff_.jitter);
  const auto wait = std::chrono::milliseconds(static_cast<int64_t>(next_backoff_.count() * jitter(rng_)));
  retry_at_ = Clock::now() + wait;
  last_error_ = why;
  next_backoff_ = std::min(backoff_.max, std::chrono::milliseconds(static_cast<int64_t>(
                                             next_backoff_.count() * backoff_.multiplier)));
  SetState(State::kBackoff);
  log::Get("client")->warn("{}: {}; next connect attempt in {} ms", address_, why.message(), wait.count());
}

void Subchannel::ResetBackoff() {
  asio::dispatch(executor_, [self = shared_from_this()] {
    self->next_backoff_ = self->backoff_.initial;
    if (self->state() == State::kBackoff) {
      self->retry_at_ = Clock::now();
    }
  });
}

void Subchannel::Shutdown() {
  asio::dispatch(executor_, [self = shared_from_this()] {
    self->SetState(State::kShutdown);
    if (auto t = std::move(self->transport_)) {
      t->Close(Status(StatusCode::kUnavailable, "channel is shut down"));
    }
  });
}

}  // namespace krpc::impl
