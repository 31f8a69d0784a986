#include "connection_life.h"

namespace krpc::node {

ConnectionLife::ConnectionLife(Ops& protocol, std::shared_ptr<ServerShared> shared,
                               boost::asio::io_context::executor_type executor, Config config)
    : protocol_(protocol), shared_(std::move(shared)), config_(config), timer_(executor) {}

void ConnectionLife::Start(uint64_t id, std::string peer) {
  id_ = id;
  peer_ = std::move(peer);
  ArmIdleTimer();
}

void ConnectionLife::ProtocolError(std::string_view reason, std::string_view detail) {
  shared_->frame_errors.fetch_add(1, std::memory_order_relaxed);
  shared_->observer->OnFrameError(reason);
  shared_->error_log.Warn("closing {} connection from {}: {} ({})", config_.kind, peer_, reason, detail);
  CloseAfterFlush(std::string(reason));
}

void ConnectionLife::CloseAfterFlush(std::string reason) {
  if (closed_) return;
  if (!closing_) close_reason_ = std::move(reason);
  closing_ = true;
  if (protocol_.FlushOutput()) OutputDrained();
}

void ConnectionLife::OutputDrained() {
  if (!closing_ || closed_) return;
  if (!config_.linger) return Close(close_reason_);
  Linger();
}

// After the last reply the write side is shut down and input is discarded until the peer
// closes (bounded by a timer). Closing at once would make the kernel answer the peer's unread
// bytes with RST, which destroys the error reply before it is read.
void ConnectionLife::Linger() {
  if (lingering_ || closed_) return;
  lingering_ = true;
  protocol_.Transport().ShutdownSend();
  timer_.cancel();
  timer_.expires_after(std::chrono::seconds(2));
  timer_.async_wait([life = protocol_.LifeRef()](const boost::system::error_code& ec) {
    if (!ec) life->Close("linger timeout");
  });
  discard_ = std::make_unique<std::array<char, 16384>>();
  DiscardInput();
}

void ConnectionLife::DiscardInput() {
  protocol_.Transport().AsyncReadSome(discard_->data(), discard_->size(),
                                      [life = protocol_.LifeRef()](const boost::system::error_code& ec, size_t) {
                                        if (ec || life->closed_) return life->Close("closed after error reply");
                                        life->DiscardInput();
                                      });
}

void ConnectionLife::ArmIdleTimer() {
  timer_.expires_after(config_.tick);
  timer_.async_wait([life = protocol_.LifeRef()](const boost::system::error_code& ec) {
    if (ec || life->closed_ || life->lingering_) return;
    if (life->Tick()) life->ArmIdleTimer();
  });
}

// Once per tick: kicks an idle peer (no traffic for the idle limit and nothing open), runs the
// protocol's checks, and gives back write buffers an idle connection no longer needs. False
// when the connection closed or is closing for idleness.
bool ConnectionLife::Tick() {
  const auto now = Clock::now();
  const auto idle_limit = shared_->IdleLimit();
  if (now - protocol_.LastReceived() >= idle_limit && !protocol_.HasWork()) {
    shared_->log->info("closing idle {} connection from {} (no traffic for {} ms)", config_.kind, peer_,
                       idle_limit.count());
    if (!closing_ && protocol_.QueueIdleGoodbye()) {
      CloseAfterFlush("idle");
    } else {
      Close("idle");
    }
    return false;
  }
  if (!protocol_.OnTick(now)) return false;
  protocol_.ReleaseIdleBuffers();
  return true;
}

void ConnectionLife::Close(std::string_view reason) {
  if (closed_) return;
  closed_ = true;
  if (closing_ && !close_reason_.empty()) reason = close_reason_;
  shared_->ConnectionClosed(reason);  // counted before the peer can see the close
  protocol_.Transport().Close();
  timer_.cancel();
  protocol_.OnClosed();
  shared_->log->debug("{} connection {} from {} closed: {}", config_.kind, id_, peer_, reason);
}

}  // namespace krpc::node
