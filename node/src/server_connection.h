// ServerConnection: one accepted krpc-protocol connection, owned by one I/O thread. A framed
// connection (net::FramedConnection: read batches, PONGs, coalesced writes) whose calls go
// through CallHost; it answers them, kicks idle and slow peers and drains on GOAWAY. All
// members are touched only on the owning thread.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <array>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "krpc/codec/frame.h"
#include "krpc/impl/io_pool.h"
#include "krpc/net/framed_connection.h"
#include "krpc/wire.pb.h"
#include "call_host.h"
#include "server_shared.h"

namespace krpc::node {

class ServerCall;

class ServerConnection final : public net::FramedConnection, public CallHost {
 public:
  ServerConnection(net::Stream stream, std::shared_ptr<ServerShared> shared, uint64_t id);
  ~ServerConnection();

  // Begins reading; a connection over the server's limit is refused with GOAWAY.
  // Starts serving, or (`refusal`) tells the client why not and closes.
  void Start(Refusal refusal);
  // CallHost
  void Goaway() override;
  void ForceClose(std::string reason) override;
  // Owning-thread only (or under ServerShared::late_mu once the loops are stopped).
  void Complete(ServerCall* call) override;
  // On its loop, or (after Shutdown stopped the loops) on the thread that runs what they left.
  bool OwningThread() const override { return InLoop() || !shared_->LoopsRunning(); }

 private:
  std::shared_ptr<ServerConnection> self() { return std::static_pointer_cast<ServerConnection>(shared_from_this()); }
  std::shared_ptr<CallHost> HostRef() override { return self(); }
  void Reject(uint64_t call_id, StatusCode code, std::string message) override {
    ReplyError(call_id, code, std::move(message), true);
  }
  // net::FramedConnection
  bool Reading() const override { return !closed_ && !closing_; }
  bool CanWrite() const override { return !closed_; }
  bool OnFrame(const codec::FrameView& frame) override;
  void OnDecodeError(const codec::DecodeResult& r) override;
  void OnProtocolError(std::string_view reason, std::string detail) override { ProtocolError(reason, std::move(detail)); }
  void OnReadFailed(const boost::system::error_code& ec) override;
  void OnOverBudget() override;
  void OnWriteFailed(const boost::system::error_code& ec) override { Close(ec.message()); }
  void OnBytesRead(size_t n) override;
  void OnBytesWritten(size_t n) override;
  void OnOutputDrained() override;

  bool OnIdleTick();
  void HandleRequest(const codec::FrameView& frame);
  void ProtocolError(std::string_view reason, std::string detail);
  void ReplyError(uint64_t call_id, StatusCode code, std::string message, bool not_executed);
  void SendGoaway(StatusCode code, std::string message);
  void ArmIdleTimer();
  void Close(std::string_view reason);
  void CloseAfterFlush();
  void Linger();
  void DiscardInput();

  bool closing_ = false;       // no more reads; close once the output is flushed
  bool closed_ = false;
  bool goaway_sent_ = false;
  static constexpr uint64_t kDrainPingNonce = 0x6b72706344524149;  // 'krpcDRAI'
  uint64_t max_call_id_ = 0;
  CallHost::Clock::time_point batch_time_;
  boost::asio::steady_timer idle_timer_;
  bool lingering_ = false;     // output flushed and shut down; discarding input until EOF
  std::unique_ptr<std::array<char, 16384>> discard_;
  wire::RequestHeader scratch_header_;   // reused for every request's header
};

}  // namespace krpc::node
