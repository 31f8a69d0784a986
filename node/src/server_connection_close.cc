// How a server connection ends: protocol errors (logged, counted, answered when the call id is
// readable, then a lingering close), the idle kick, the frame timeout and the memory budget.
#include <array>

#include "server_call.h"
#include "server_connection.h"

namespace krpc::node {
using codec::FrameType;

// Keeping this connection's partial frame would exceed the node's budget for partly received
// frames (max_pending_frame_bytes): close it, counted as a frame error.
void ServerConnection::OnOverBudget() {
  ProtocolError("memory_budget", "partly received frames on this node exceed max_pending_frame_bytes=" +
                                     std::to_string(shared_->frame_budget->limit()));
}

void ServerConnection::OnDecodeError(const codec::DecodeResult& r) {
  const std::string_view reason = codec::ToString(r.error);
  std::string detail(reason);
  if (r.error == codec::DecodeError::kBodyTooLarge) {
    detail = "frame body of " + std::to_string(r.prefix.body_len) +
             " bytes exceeds max_body_bytes=" + std::to_string(shared_->limits.max_body_bytes);
    // Tell the caller why, when its call id is readable, instead of silently dropping it.
    const auto buffered = reader().Buffered();
    if (r.prefix.type == FrameType::kRequest && buffered.size() >= codec::kPrefixSize + r.prefix.header_len) {
      wire::RequestHeader h;
      if (h.ParseFromArray(buffered.data() + codec::kPrefixSize, static_cast<int>(r.prefix.header_len))) {
        ReplyError(h.call_id(), StatusCode::kResourceExhausted, "request " + detail, true);
      }
    }
  }
  ProtocolError(reason, detail);
}

void ServerConnection::ProtocolError(std::string_view reason, std::string detail) {
  shared_->frame_errors.fetch_add(1, std::memory_order_relaxed);
  shared_->observer->OnFrameError(reason);
  uint64_t suppressed = 0;
  if (shared_->error_log_limit.Allow(&suppressed)) {
    shared_->log->warn("closing connection from {}: {} ({}){}", peer_, reason, detail,
                       suppressed ? fmt::format(" [{} similar messages suppressed]", suppressed) : "");
  }
  CloseAfterFlush();
}

// After a protocol error the reply is flushed, then the write side is shut down and input is
// discarded until the peer closes (bounded by a timer). Closing at once would make the kernel
// answer the peer's unread bytes with RST, which destroys the error reply before it is read.
void ServerConnection::Linger() {
  if (lingering_ || closed_) return;
  lingering_ = true;
  stream().ShutdownSend();
  idle_timer_.cancel();
  idle_timer_.expires_after(std::chrono::seconds(2));
  idle_timer_.async_wait([self = self()](const boost::system::error_code& ec) {
    if (!ec) self->Close("linger timeout");
  });
  discard_ = std::make_unique<std::array<char, 16384>>();
  DiscardInput();
}

void ServerConnection::DiscardInput() {
  stream().AsyncReadSome(discard_->data(), discard_->size(), [self = self()](const boost::system::error_code& ec, size_t) {
    if (ec || self->closed_) {
      self->Close("closed after error reply");
      return;
    }
    self->DiscardInput();
  });
}

void ServerConnection::CloseAfterFlush() {
  closing_ = true;
  if (output_idle()) {
    Linger();
  } else {
    Flush();
  }
}

void ServerConnection::ArmIdleTimer() {
  const auto& o = shared_->options;
  const auto tick = std::max(std::chrono::milliseconds(5),
                             std::min(std::chrono::milliseconds(o.heartbeat_interval_ms / 2),
                                      std::chrono::milliseconds(o.frame_timeout_ms / 2)));
  idle_timer_.expires_after(tick);
  idle_timer_.async_wait([self = self()](const boost::system::error_code& ec) {
    if (ec || self->closed_ || self->lingering_) return;
    if (self->OnIdleTick()) self->ArmIdleTimer();
  });
}

// Once per tick: kicks idle peers and peers that take too long to finish a frame, and gives
// back write buffers an idle connection no longer needs. False when the connection closed.
bool ServerConnection::OnIdleTick() {
  const auto& o = shared_->options;
  const auto now = CallHost::Clock::now();
  const auto idle_limit = shared_->IdleLimit();
  if (now - last_recv() >= idle_limit && inflight_ == 0) {
    shared_->idle_closed.fetch_add(1, std::memory_order_relaxed);
    shared_->log->info("closing idle connection from {} (no traffic for {} ms)", peer_, idle_limit.count());
    Close("idle");
    return false;
  }
  const auto partial = reader().partial_since();
  if (partial && now - *partial >= std::chrono::milliseconds(o.frame_timeout_ms)) {
    ProtocolError("frame_timeout", "a frame was not completed within frame_timeout_ms=" + std::to_string(o.frame_timeout_ms) +
                                       " (" + std::to_string(reader().buffered()) + " bytes received)");
    return false;
  }
  ReleaseIdleBuffers();
  return true;
}

void ServerConnection::Close(std::string_view reason) {
  if (closed_) return;
  closed_ = true;
  GoawayAcknowledged();  // a closed connection carries no more requests
  stream().Close();
  idle_timer_.cancel();
  CancelUnfinished();
  reader().EndBatch();
  shared_->connections_open.fetch_sub(1, std::memory_order_relaxed);
  shared_->observer->OnConnectionClosed(reason);
  shared_->log->debug("connection {} from {} closed: {}", id_, peer_, reason);
}

}  // namespace krpc::node
