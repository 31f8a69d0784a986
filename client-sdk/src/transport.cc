#include "transport.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>

#include "krpc/impl/io_pool.h"
#include "krpc/impl/thread_check.h"
#include "krpc/log.h"

namespace krpc::impl {
namespace asio = boost::asio;

namespace {
constexpr auto kDeadlineGranularity = std::chrono::milliseconds(1);
}  // namespace

Transport::Transport(asio::any_io_executor executor, Endpoint endpoint, ConnectionOptions options,
                     std::weak_ptr<TransportListener> listener, std::shared_ptr<net::TlsContext> tls)
    : executor_(executor),
      loop_(&asio::query(executor, asio::execution::context)),
      endpoint_(std::move(endpoint)),
      options_(std::move(options)),
      listener_(std::move(listener)),
      address_(endpoint_.ToString()),
      deadline_timer_(executor),
      heartbeat_timer_(executor),
      connector_(*this, executor, endpoint_, options_, std::move(tls)),
      log_(krpc::log::Get("client")) {}

Transport::~Transport() = default;

bool Transport::InLoop() const { return impl::CurrentLoop() == loop_; }

void Transport::Connect() {
  last_send_ = Clock::now();
  connector_.Start();
}

void Transport::OnConnectDone(const Status& status) {
  if (state_ != State::kConnecting) return;
  if (!status.ok()) return Close(status);
  BecomeReady();
}

void Transport::BecomeReady() {
  state_ = State::kReady;
  was_ready_ = true;
  if (auto l = listener_.lock()) l->OnTransportReady(this);
  OnStreamConnected();
  ArmHeartbeat();  // heartbeats, or (without them) only giving back idle memory
}

void Transport::StartCall(Attempt* a) {
  KRPC_ASSERT_IN_LOOP(InLoop());
  const auto now = Clock::now();
  if (!accepting()) {
    EndAttempt(a, Status(StatusCode::kUnavailable, "connection to " + address_ + " is closing"), true);
    return;
  }
  if (a->deadline <= now) {
    EndAttempt(a, Status(StatusCode::kDeadlineExceeded, "deadline passed before sending"), true);
    return;
  }
  const size_t body = a->call->request->ByteSizeLong();
  if (body > options_.max_body_bytes) {
    EndAttempt(a, Status(StatusCode::kResourceExhausted, "request of " + std::to_string(body) +
                                                       " bytes exceeds max_body_bytes=" +
                                                       std::to_string(options_.max_body_bytes)),
            true);
    return;
  }
  const uint64_t id = calls_.Insert(a);
  if (!a->Attach(std::weak_ptr<Transport>(Ref()), id)) {  // cancelled on its way here
    calls_.Take(id);
    EndAttempt(a, Status(StatusCode::kCancelled, "call cancelled by the client"), true);
    return;
  }
  if (!SendRequest(a, id, now)) return;
  last_send_ = now;
  const auto running = [this](uint64_t call_id) { return calls_.Find(call_id) != nullptr; };
  if (a->deadline != Clock::time_point::max()) {
    deadlines_.Push({a->deadline, id, false}, running);
    ArmDeadline(a->deadline);
  }
  if (a->hedge_at < a->deadline) {
    deadlines_.Push({a->hedge_at, id, true}, running);
    ArmDeadline(a->hedge_at);
  }
}

void Transport::Cancel(uint64_t call_id) {
  asio::post(executor_, [self = Ref(), call_id] {
    if (Attempt* a = self->calls_.Take(call_id)) {
      self->SendCancel(call_id);
      self->CompleteCall(a, Status(StatusCode::kCancelled, "call cancelled by the client"), false);
    }
  });
}

void Transport::CompleteCall(Attempt* a, Status status, bool not_executed) {
  EndAttempt(a, std::move(status), not_executed);
  MaybeFinishDrain();
}

void Transport::EndAttempt(Attempt* a, Status status, bool not_executed) {
  if (auto l = listener_.lock()) return l->OnAttemptEnded(a, std::move(status), not_executed);
  a->Done(std::move(status), not_executed);  // the subchannel is gone: nothing left to count
}

void Transport::Retire(const std::string& why) {
  KRPC_ASSERT_IN_LOOP(InLoop());
  if (state_ == State::kConnecting) {
    Close(Status(StatusCode::kUnavailable, why));
  } else {
    StartDraining(why);
  }
}

void Transport::StartDraining(std::string_view why) {
  if (state_ != State::kReady) return;
  log_->info("{} is draining ({})", address_, why);
  state_ = State::kDraining;
  if (auto l = listener_.lock()) l->OnTransportDraining(this);
  MaybeFinishDrain();
}

void Transport::MaybeFinishDrain() {
  if (state_ == State::kDraining && calls_.empty()) Close(Status::Ok());
}

void Transport::ReadFailed(const boost::system::error_code& ec) {
  if (ec.category() == asio::error::get_ssl_category()) {
    // With TLS 1.3 the server checks the client's certificate after the client finished its
    // handshake: a refusal arrives as an alert on the first read.
    const auto failure = net::DescribeTlsFailure(TheStream().ssl(), ec);
    connector_.set_tls_failure(failure.reason);
    Close(Status(StatusCode::kUnavailable, "TLS error from " + address_ + " (" + failure.reason + "): " + failure.message));
    return;
  }
  Close(!write_error_.ok() ? write_error_
                           : Status(StatusCode::kUnavailable, "connection to " + address_ + " lost: " +
                                                                  (ec == asio::error::eof ? "closed by peer" : ec.message())));
}

void Transport::WriteFailed(const boost::system::error_code& ec) {
  write_error_ = Status(StatusCode::kUnavailable, "write to " + address_ + " failed: " + ec.message());
  boost::system::error_code ignored;
  TheStream().socket().shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
  if (state_ == State::kReady) {
    state_ = State::kDraining;
    if (auto l = listener_.lock()) l->OnTransportDraining(this);
  }
}

void Transport::Close(const Status& why) {
  KRPC_ASSERT_IN_LOOP(InLoop());
  if (state_ == State::kClosed) return;
  const bool was_connecting = state_ == State::kConnecting;
  state_ = State::kClosed;
  CloseStream();
  connector_.Cancel();
  deadline_timer_.cancel();
  heartbeat_timer_.cancel();
  if (!why.ok()) log_->debug("transport to {} closed: {}", address_, why.ToString());
  auto calls = calls_.TakeAll();
  // The owner forgets this transport first, so a retry from a failed call goes elsewhere.
  auto keep = Ref();  // the listener may drop the last reference
  if (auto l = listener_.lock()) l->OnTransportClosed(this, why, was_ready_, peer_silent_);
  // Calls that never reached the wire were not executed; others may have been.
  for (auto& [id, a] : calls) {
    EndAttempt(a, why.ok() ? Status(StatusCode::kUnavailable, "connection closed") : why, was_connecting);
  }
}

void Transport::ArmDeadline(Clock::time_point when) {
  if (when >= deadline_armed_) return;  // an earlier wake-up is already set
  deadline_armed_ = when;
  deadline_timer_.expires_at(when);
  deadline_timer_.async_wait([self = Ref()](const boost::system::error_code& ec) {
    if (ec == asio::error::operation_aborted) return;  // re-armed earlier, or closed
    self->OnDeadline();
  });
}

void Transport::OnDeadline() {
  deadline_armed_ = Clock::time_point::max();
  if (state_ == State::kClosed) return;
  const auto now = Clock::now();
  while (!deadlines_.empty() && deadlines_.Top().when <= now) {
    const DeadlineQueue::Entry e = deadlines_.Pop();
    if (e.hedge) {
      // Still in flight at its hedge time: the channel may start a hedge elsewhere. The
      // attempt stays here (its call cannot finish while it is in flight).
      if (Attempt* a = calls_.Find(e.id)) {
        auto sink = a->call->sink;
        sink->OnHedgeDue(a);
      }
      continue;
    }
    if (Attempt* a = calls_.Take(e.id)) {
      SendCancel(e.id);
      const bool per_try = a->deadline < a->call->deadline;
      CompleteCall(a, Status(StatusCode::kDeadlineExceeded,
                             (per_try ? "per-try timeout exceeded waiting for " : "deadline exceeded waiting for ") + address_),
                   false);
      if (state_ == State::kClosed) return;
    }
  }
  // Entries of calls that finished early may stay queued until their time; waking at most
  // once per granularity bounds the timer's cost at high call rates.
  if (!deadlines_.empty()) ArmDeadline(std::max(deadlines_.Top().when, now + kDeadlineGranularity));
}

void Transport::ArmHeartbeat() {
  const auto tick = std::max(std::chrono::milliseconds(5), std::chrono::milliseconds(options_.heartbeat_interval_ms / 2));
  heartbeat_timer_.expires_after(tick);
  heartbeat_timer_.async_wait([self = Ref()](const boost::system::error_code& ec) {
    if (!ec) self->OnHeartbeat();
  });
}

void Transport::OnHeartbeat() {
  if (state_ == State::kClosed) return;
  const auto now = Clock::now();
  const auto interval = std::chrono::milliseconds(options_.heartbeat_interval_ms);
  if (!UsesHeartbeats()) {
    if (now - last_send_ >= interval) ReleaseIdleMemory();
    ArmHeartbeat();
    return;
  }
  const auto dead_after = interval * (options_.heartbeat_miss_limit + 1);
  if (now - LastRecv() >= dead_after) {
    peer_silent_ = true;
    Close(Status(StatusCode::kUnavailable, "no traffic from " + address_ + " for " +
                                              std::to_string(dead_after.count()) + " ms (missed heartbeats)"));
    return;
  }
  if (now - last_send_ >= interval) {
    ReleaseIdleMemory();
    SendPing();
    last_send_ = now;
  }
  ArmHeartbeat();
}

}  // namespace krpc::impl
