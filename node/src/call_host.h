// CallHost: what every server connection does with calls, whatever protocol carries them (the
// krpc framed protocol, gRPC over HTTP/2): admission (method lookup, drain, deadline,
// max_inflight), dispatch (inline, handler pool, interceptor with delays and hangs), cancel,
// the table of unfinished calls, and the accounting when a call ends. A protocol connection
// derives from it and supplies how a reply is written (Complete, Reject).
//
// Threading: one I/O thread owns it; members are touched only there (or, once the server's
// loops are stopped, under ServerShared::late_mu).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "krpc/impl/io_pool.h"
#include "krpc/net/stream.h"
#include "krpc/peer_identity.h"
#include "server_shared.h"

namespace krpc::node {

class ConnectionLife;
class ServerCall;

// Why a new connection is refused at once (with a GOAWAY naming the reason), if it is.
enum class Refusal { kNone, kConnectionLimit, kTlsRequired };

// "ip:port" of the socket's peer ("unknown" when it cannot be read).
std::string PeerAddress(const boost::asio::ip::tcp::socket& socket);

class CallHost {
 public:
  using Clock = std::chrono::steady_clock;
  virtual ~CallHost() = default;

  // Any thread: completes on the owning thread (posting there if needed).
  void CompleteFromAnyThread(ServerCall* call);
  // A handler threw (logged, rate-limited, counted); any thread.
  void HandlerFailed(const MethodEntry& entry, std::string_view what);
  const std::string& peer() const { return peer_; }
  // The peer's verified TLS identity (unauthenticated for plaintext connections).
  const PeerIdentity& identity() const { return identity_; }
  uint64_t id() const { return id_; }
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
  // Starts serving, or (`refusal`) tells the client why not in its protocol and closes.
  virtual void Start(Refusal refusal) = 0;
  // Thread-safe: drain (GOAWAY in the connection's protocol) and forced close.
  virtual void Goaway() = 0;
  void ForceClose(std::string reason);

  // Owning thread: writes the call's reply (unless the connection closed), then Finish().
  // For a streaming call: its final status (in trailers), unless it ended already.
  virtual void Complete(ServerCall* call) = 0;

  // --- a streaming call's operations (StreamCall), on the owning thread; a protocol that
  // carries streams overrides them ---
  // Sends one message of the call (its response opens first, with the response metadata).
  // CANCELLED when the stream is gone; RESOURCE_EXHAUSTED for a message over max_body_bytes.
  virtual Status SendStreamMessage(uint64_t call_id, std::string_view payload);
  // Bytes of the call's messages not yet taken by the protocol.
  virtual size_t StreamUnsent(uint64_t call_id) const { return 0; }
  // A message of the client's was read or dropped: its `wire_bytes` leave the node's memory
  // budget, and `window_bytes` of them go back to the client's window.
  virtual void StreamConsumed(uint64_t call_id, size_t wire_bytes, size_t window_bytes) {}
  // Ends the call with `status` now, before its handler finished (deadline, a bad message);
  // the handler sees a cancel, and its Finish sends nothing more.
  virtual void EndStream(uint64_t call_id, const Status& status) {}
  const boost::asio::io_context::executor_type& executor() const { return executor_; }
  ServerShared& shared() const { return *shared_; }

 protected:
  CallHost(std::shared_ptr<ServerShared> shared, boost::asio::io_context::executor_type executor, uint64_t id,
           Protocol protocol);
  // Records the stream's peer: "ip:port" ("unknown" when it cannot be read) for peer(), and
  // its verified certificate identity for identity().
  void SetPeer(net::Stream& stream);
  // A shared_ptr to the derived connection (which owns this base).
  virtual std::shared_ptr<CallHost> HostRef() = 0;
  // The connection's lifecycle (a member of the derived connection).
  virtual ConnectionLife& Life() = 0;
  // On its loop, or (after Shutdown stopped the loops) on the thread that runs what they left.
  bool OnOwningThread() const { return InLoop() || !shared_->LoopsRunning(); }
  // Owning thread: the drain's GOAWAY was acknowledged (krpc: the PONG to the PING behind it;
  // gRPC or any protocol: the close). Settles this connection's count in
  // ServerShared::goaway_unacked once, if drain_ack_pending_.
  void GoawayAcknowledged() {
    if (!drain_ack_pending_) return;
    drain_ack_pending_ = false;
    shared_->GoawayAcknowledged();
  }
  // Answers a call that never reached a handler (unknown method, draining, ...). An overload
  // refusal carries a retry pushback (`pushback_ms`, -1: do not retry; kNoPushback: none),
  // sent as krpc-retry-pushback-ms / grpc-retry-pushback-ms.
  static constexpr int kNoPushback = -2;
  virtual void Reject(uint64_t call_id, StatusCode code, std::string message, int pushback_ms = kNoPushback) = 0;

  // Admission of a call: counts it, checks method, authorization (authz_allow), drain
  // (`refusing`: the protocol refuses it while draining; a krpc connection refuses every call
  // once the node drains, gRPC serves the streams its final GOAWAY covers), deadline and
  // max_inflight. On refusal the call is answered with Reject() and
  // null returned; else a new ServerCall holding a max_inflight slot.
  ServerCall* Admit(uint64_t call_id, std::string_view method, uint64_t timeout_us, Clock::time_point arrival,
                    bool refusing);
  // The refusals a call's headers alone decide, before its body arrives (a gRPC stream's
  // client may send it slowly, or never end it): an unknown method, a caller authz_allow
  // refuses, a node or method at its concurrency limit. Answers and counts them as Admit
  // does and returns true; false when the call may go on to Admit (which checks again).
  bool RefuseEarly(uint64_t call_id, std::string_view method, Clock::time_point arrival);
  // Runs the call: inline, on the handler pool, or through the interceptor.
  void Dispatch(ServerCall* call);
  // The client no longer waits for the call (cancel, reset stream).
  void CancelCall(ServerCall* call);
  // The common end of Complete(): metrics, the max_inflight slot, the table, the reference.
  void Finish(ServerCall* call);
  // The connection closed: cancels every unfinished call and answers hung ones.
  void CancelUnfinished();
  ServerCall* FindUnfinished(uint64_t call_id) const;
  // Enters the call in the table of unfinished calls (cancel and close reach it) if it is not.
  void TrackUnfinished(ServerCall* call);

  std::shared_ptr<ServerShared> shared_;
  boost::asio::io_context::executor_type executor_;
  const boost::asio::io_context* loop_;  // compared only, never dereferenced (see InLoop)
  const uint64_t id_;
  const Protocol protocol_;
  std::string peer_;
  PeerIdentity identity_;
  int64_t inflight_ = 0;  // calls of this connection not finished
  bool drain_ack_pending_ = false;  // told to go away, counted in goaway_unacked, not acknowledged

 private:
  void Track(ServerCall* call);
  // Answers an overload refusal (RESOURCE_EXHAUSTED, with the pushback) and counts it.
  void RefuseOverloaded(const MethodEntry& entry, uint64_t call_id, Clock::time_point arrival, std::string why);
  void QueueForHandler(ServerCall* call);
  void RunIntercepted(ServerCall* call);
  void RunAfterInterception(ServerCall* call, const Status& status);
  void ReleaseSlot(ServerCall* call, Clock::time_point now);

  std::unordered_map<uint64_t, ServerCall*> unfinished_;  // calls still running after dispatch
  ServerCall* inline_call_ = nullptr;                      // the call whose handler runs right now
};

}  // namespace krpc::node
