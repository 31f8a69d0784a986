// ServerConnection: one accepted TCP connection, owned by one I/O thread. Reads frames,
// dispatches calls, writes responses coalesced per read batch, answers PING, kicks idle
// peers and drains on GOAWAY. All members are touched only on the owning thread.
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
#include "krpc/wire.pb.h"
#include "server_shared.h"

namespace krpc::node {

class ServerCall;

class ServerConnection : public std::enable_shared_from_this<ServerConnection> {
 public:
  using Clock = std::chrono::steady_clock;

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
  void DoRead();
  void OnReadable(const boost::system::error_code& ec);
  void OverBudget();
  bool OnIdleTick();
  void CancelCall(ServerCall* call);
  void ReleaseSlot(ServerCall* call);
  bool HandleFrame(const codec::FrameView& frame);
  void HandleRequest(const codec::FrameView& frame);
  void Dispatch(ServerCall* call);
  void Track(ServerCall* call);
  void RunIntercepted(ServerCall* call);
  void HandleFrameError(const codec::DecodeResult& r);
  void ProtocolError(std::string_view reason, std::string detail);
  void ReplyError(uint64_t call_id, StatusCode code, std::string message, bool not_executed);
  void SendGoaway(StatusCode code, std::string message);
  void Flush();
  void OnWrite(const boost::system::error_code& ec, size_t n);
  void ArmIdleTimer();
  void Close(std::string_view reason);
  void CloseAfterFlush();
  void Linger();
  void DiscardInput();

  // Declared first, so destroyed last: the socket and timers below need its io_contexts.
  std::shared_ptr<ServerShared> shared_;
  boost::asio::ip::tcp::socket socket_;
  boost::asio::io_context::executor_type executor_;
  const boost::asio::io_context* loop_;  // compared only, never dereferenced (see InLoop)
  const uint64_t id_;
  std::string peer_;
  codec::FrameReader reader_;
  std::vector<char> out_;      // responses appended while a write is in progress
  std::vector<char> writing_;  // the batch on the wire
  bool write_in_progress_ = false;
  bool in_read_batch_ = false;
  bool closing_ = false;       // no more reads; close once the output is flushed
  bool closed_ = false;
  bool goaway_sent_ = false;
  uint64_t max_call_id_ = 0;
  int64_t inflight_ = 0;
  Clock::time_point last_recv_;
  Clock::time_point batch_time_;
  boost::asio::steady_timer idle_timer_;
  bool lingering_ = false;     // output flushed and shut down; discarding input until EOF
  std::unique_ptr<std::array<char, 16384>> discard_;
  wire::RequestHeader scratch_header_;   // reused for every request's header
  std::unordered_map<uint64_t, ServerCall*> unfinished_;  // calls still running after dispatch
  ServerCall* inline_call_ = nullptr;                      // the call whose handler runs right now
};

}  // namespace krpc::node
