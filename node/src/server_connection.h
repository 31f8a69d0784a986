// ServerConnection: one accepted connection, owned by one I/O thread. A framed connection
// (net::FramedConnection: read batches, PONGs, coalesced writes) that dispatches calls,
// answers them, kicks idle and slow peers and drains on GOAWAY. All members are touched
// only on the owning thread.
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
#include "server_shared.h"

namespace krpc::node {

class ServerCall;

class ServerConnection final : public net::FramedConnection {
 public:

  ServerConnection(boost::asio::ip::tcp::socket socket, std::shared_ptr<ServerShared> shared, uint64_t id);
  ~ServerConnection();

  // Begins reading; a connection over the server's limit is refused with GOAWAY.
  void Start(bool over_limit);
  // Thread-safe: GOAWAY (drain) and forced close, posted to the owning thread.
  void Goaway();
  void ForceClose(std::string reason);

  // Owning-thread only (or under ServerShared::late_mu once the loops are stopped).
  void Complete(ServerCall* call);
  // Any thread: completes on the owning thread (posting there if needed).
  void CompleteFromAnyThread(ServerCall* call);
  // A handler threw (logged, rate-limited, counted); any thread.
  void HandlerFailed(const MethodEntry& entry, std::string_view what);
  bool InLoop() const { return impl::CurrentLoop() == loop_; }
  // On its loop, or (after Shutdown stopped the loops) on the thread that runs what they left.
  bool OwningThread() const override { return InLoop() || !shared_->LoopsRunning(); }
  template <typename F>
  void Post(F&& f) { boost::asio::post(executor_, std::forward<F>(f)); }
  // Posts to the owning thread while the server's loops run; false (nothing posted) after.
  template <typename F>
  bool PostIfRunning(F&& f) {
    std::shared_lock lock(shared_->loops_mu);
    if (!shared_->loops_running) return false;
    boost::asio::post(executor_, std::forward<F>(f));
    return true;
  }
  const std::string& peer() const { return peer_; }
  uint64_t id() const { return id_; }

 private:
  std::shared_ptr<ServerConnection> self() { return std::static_pointer_cast<ServerConnection>(shared_from_this()); }
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
  void CancelCall(ServerCall* call);
  void ReleaseSlot(ServerCall* call);
  void HandleRequest(const codec::FrameView& frame);
  void Dispatch(ServerCall* call);
  void Track(ServerCall* call);
  void RunIntercepted(ServerCall* call);
  void QueueForHandler(ServerCall* call);
  void ProtocolError(std::string_view reason, std::string detail);
  void ReplyError(uint64_t call_id, StatusCode code, std::string message, bool not_executed);
  void SendGoaway(StatusCode code, std::string message);
  void ArmIdleTimer();
  void Close(std::string_view reason);
  void CloseAfterFlush();
  void Linger();
  void DiscardInput();

  // Also handed to the base as its keep-alive: the stream and the timers need the
  // io_contexts it keeps, so the base destroys its copy after them.
  std::shared_ptr<ServerShared> shared_;
  boost::asio::io_context::executor_type executor_;
  const boost::asio::io_context* loop_;  // compared only, never dereferenced (see InLoop)
  const uint64_t id_;
  std::string peer_;
  bool closing_ = false;       // no more reads; close once the output is flushed
  bool closed_ = false;
  bool goaway_sent_ = false;
  uint64_t max_call_id_ = 0;
  int64_t inflight_ = 0;
  Clock::time_point batch_time_;
  boost::asio::steady_timer idle_timer_;
  bool lingering_ = false;     // output flushed and shut down; discarding input until EOF
  std::unique_ptr<std::array<char, 16384>> discard_;
  wire::RequestHeader scratch_header_;   // reused for every request's header
  std::unordered_map<uint64_t, ServerCall*> unfinished_;  // calls still running after dispatch
  ServerCall* inline_call_ = nullptr;                      // the call whose handler runs right now
};

}  // namespace krpc::node
