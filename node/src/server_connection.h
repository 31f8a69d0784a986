// ServerConnection: one accepted krpc-protocol connection, owned by one I/O thread. A framed
// connection (net::FramedConnection: read batches, PONGs, coalesced writes) whose calls go
// through CallHost; it answers them and drains on GOAWAY. What every protocol shares (idle
// kick, close-after-flush and linger, close accounting) is its ConnectionLife; this class
// supplies the krpc operations (frame timeout, error replies). All members are touched only on
// the owning thread.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <array>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "krpc/codec/frame.h"
#include "krpc/impl/io_pool.h"
#include "krpc/net/framed_connection.h"
#include "krpc/wire.pb.h"
#include "call_host.h"
#include "connection_life.h"
#include "server_shared.h"
#include "stream_call.h"

namespace krpc::node {

class ServerCall;

class ServerConnection final : public net::FramedConnection, public CallHost, private ConnectionLife::Ops {
 public:
  ServerConnection(net::Stream stream, std::shared_ptr<ServerShared> shared, uint64_t id);
  ~ServerConnection();

  // CallHost: begins reading, or refuses with a GOAWAY frame saying why.
  void Start(Refusal refusal) override;
  void Goaway() override;
  // Owning-thread only (or under ServerShared::late_mu once the loops are stopped).
  void Complete(ServerCall* call) override;
  bool OwningThread() const override { return OnOwningThread(); }

 private:
  std::shared_ptr<ServerConnection> self() { return std::static_pointer_cast<ServerConnection>(shared_from_this()); }
  std::shared_ptr<CallHost> HostRef() override { return self(); }
  ConnectionLife& Life() override { return life_; }
  void Reject(uint64_t call_id, StatusCode code, std::string message, int pushback_ms) override {
    ReplyError(call_id, code, std::move(message), true, pushback_ms);
  }
  // net::FramedConnection
  bool Reading() const override { return life_.reading(); }
  bool CanWrite() const override { return !life_.closed(); }
  bool OnFrame(const codec::FrameView& frame) override;
  void OnDecodeError(const codec::DecodeResult& r) override;
  void OnProtocolError(std::string_view reason, std::string detail) override { life_.ProtocolError(reason, detail); }
  void OnReadFailed(const boost::system::error_code& ec) override;
  void OnOverBudget() override;
  void OnWriteFailed(const boost::system::error_code& ec) override { life_.Close(ec.message()); }
  void OnBytesRead(size_t n) override;
  void OnBytesWritten(size_t n) override;
  void OnOutputDrained() override;
  void OnWriteRoom() override;

  // ConnectionLife::Ops
  std::shared_ptr<ConnectionLife> LifeRef() override { return {self(), &life_}; }
  net::Stream& Transport() override { return stream(); }
  bool FlushOutput() override;
  ConnectionLife::Clock::time_point LastReceived() const override { return last_recv(); }
  bool HasWork() const override { return inflight_ > 0; }
  bool OnTick(ConnectionLife::Clock::time_point now) override;
  void ReleaseIdleBuffers() override { FramedConnection::ReleaseIdleBuffers(); }
  bool QueueIdleGoodbye() override { return false; }
  void OnClosed() override;

  void HandleRequest(const codec::FrameView& frame);
  // Writes the call's reply: its response, its error, or (expired: the caller has given up)
  // DEADLINE_EXCEEDED without the body; a cancelled call's reply is not written at all.
  void WriteReply(ServerCall* call, CallHost::Clock::time_point now);
  void ReplyError(uint64_t call_id, StatusCode code, std::string message, bool not_executed,
                  int pushback_ms = kNoPushback);
  void SendGoaway(StatusCode code, std::string message);

  // Streams on the krpc wire (server_connection_streams.cc; docs/protocol.md "Streams on the
  // krpc wire"): REQUEST with a stream kind opens one, STREAM_ACCEPT admits it, MESSAGE and
  // CREDIT frames carry messages and flow control both ways, RESPONSE ends it.
  static constexpr uint64_t kStreamWindow = 1u << 20;  // message bytes each side takes unread
  struct KrpcStream {
    std::shared_ptr<StreamCall> stream;
    ServerCall* call = nullptr;       // until Complete
    uint64_t send_credit = 0;         // message bytes the client takes before returning credit
    uint64_t recv_outstanding = 0;    // message bytes received, not yet returned as credit
    std::deque<std::string> out;      // messages waiting for credit
    size_t out_bytes = 0;
    std::optional<wire::ResponseHeader> final;  // the status, once `out` is sent
  };
  void OpenStream(ServerCall* call);
  bool HandleMessage(const codec::FrameView& frame);
  bool HandleCredit(const codec::FrameView& frame);
  // The stream's waiting messages while credit allows, then its final RESPONSE.
  void SendStreamOut(uint64_t call_id, KrpcStream& s);
  void CompleteStream(ServerCall* call);
  // The stream is over for the protocol: its handler's side learns it; its bytes go back.
  void DropStream(uint64_t call_id);
  Status SendStreamMessage(uint64_t call_id, std::string_view payload) override;
  size_t StreamUnsent(uint64_t call_id) const override;
  void StreamConsumed(uint64_t call_id, size_t wire_bytes, size_t window_bytes) override;
  void EndStream(uint64_t call_id, const Status& status) override;
  std::unordered_map<uint64_t, KrpcStream> streams_;

  ConnectionLife life_;
  bool goaway_sent_ = false;
  static constexpr uint64_t kDrainPingNonce = 0x6b72706344524149;  // 'krpcDRAI'
  uint64_t max_call_id_ = 0;
  CallHost::Clock::time_point batch_time_;
  wire::RequestHeader scratch_header_;   // reused for every request's header
  // Finished calls whose replies wait for room in the write queue (max_write_queue_bytes),
  // in order; still in the table of unfinished calls, so a CANCEL reaches them.
  std::deque<ServerCall*> unwritten_;
};

}  // namespace krpc::node
