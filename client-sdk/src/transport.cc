#include "transport.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>

#include "krpc/impl/io_pool.h"
#include "krpc/impl/thread_check.h"
#include "krpc/log.h"

namespace krpc::impl {
namespace asio = boost::asio;

Transport::Transport(asio::any_io_executor executor, Endpoint endpoint, ConnectionOptions options,
                     std::weak_ptr<TransportListener> listener, std::shared_ptr<net::TlsContext> tls)
    : executor_(executor),
      loop_(&asio::query(executor, asio::execution::context)),
      endpoint_(std::move(endpoint)),
      options_(std::move(options)),
      listener_(std::move(listener)),
      address_(endpoint_.ToString()),
      connector_(*this, executor, endpoint_, options_, std::move(tls)),
      deadline_timer_(executor),
      heartbeat_timer_(executor),
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
  // Requests still waiting to be written go elsewhere: the server takes no new calls here.
  while (!unwritten_.empty()) {
    const uint64_t id = unwritten_.front().id;
    unwritten_.pop_front();
    if (Attempt* a = calls_.Take(id)) {
      a->unwritten = false;
      EndAttempt(a, Status(StatusCode::kUnavailable, address_ + " is draining (" + std::string(why) + ")"), true);
      if (state_ == State::kClosed) return;
    }
  }
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
  unwritten_.clear();
  // The owner forgets this transport first, so a retry from a failed call goes elsewhere.
  auto keep = Ref();  // the listener may drop the last reference
  if (auto l = listener_.lock()) l->OnTransportClosed(this, why, was_ready_, peer_silent_);
  // Calls that never reached the wire were not executed; others may have been.
  for (auto& [id, a] : calls) {
    const bool unsent = was_connecting || a->unwritten;
    a->unwritten = false;
    EndAttempt(a, why.ok() ? Status(StatusCode::kUnavailable, "connection closed") : why, unsent);
  }
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
