// How a krpc server connection ends: decode errors (answered when the call id is readable),
// the frame timeout and the memory budget; ConnectionLife does the rest (logging, counting,
// the lingering close, the idle kick).
#include <array>

#include "server_call.h"
#include "server_connection.h"

namespace krpc::node {
using codec::FrameType;

// Keeping this connection's partial frame would exceed the node's budget for partly received
// frames (max_pending_frame_bytes): close it, counted as a frame error.
void ServerConnection::OnOverBudget() {
  life_.ProtocolError("memory_budget", "partly received frames on this node exceed max_pending_frame_bytes=" +
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
  life_.ProtocolError(reason, detail);
}

bool ServerConnection::FlushOutput() {
  if (output_idle()) return true;
  Flush();
  return output_idle();
}

// The krpc check of each tick: a frame begun must be complete within frame_timeout_ms.
bool ServerConnection::OnTick(ConnectionLife::Clock::time_point now) {
  const auto& o = shared_->options;
  const auto partial = reader().partial_since();
  if (partial && now - *partial >= std::chrono::milliseconds(o.frame_timeout_ms)) {
    life_.ProtocolError("frame_timeout", "a frame was not completed within frame_timeout_ms=" +
                                             std::to_string(o.frame_timeout_ms) + " (" +
                                             std::to_string(reader().buffered()) + " bytes received)");
    return false;
  }
  return true;
}

void ServerConnection::OnClosed() {
  GoawayAcknowledged();  // a closed connection carries no more requests
  // Replies that waited for room will never be written.
  while (!unwritten_.empty()) {
    ServerCall* call = unwritten_.front();
    unwritten_.pop_front();
    Finish(call);
  }
  // Streams: their handlers' reads and writes end false; nothing holds this connection after.
  std::vector<uint64_t> open;
  for (const auto& [id, s] : streams_) open.push_back(id);
  for (uint64_t id : open) DropStream(id);
  CancelUnfinished();
  reader().EndBatch();
}

}  // namespace krpc::node
