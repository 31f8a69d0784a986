// Transport: one client connection to one endpoint, owned by one I/O thread, whatever protocol
// it speaks. This base does what every protocol needs: connecting (its Connector), the
// attempts in flight (a slab indexed by call id), per-attempt deadlines and hedge times with
// one timer per connection (a heap of wake-ups, not a kernel timer per call), heartbeats
// (PING when idle, close on missed ones), drain and close. A protocol derives from it and
// supplies the wire: KrpcTransport (the krpc framed protocol) and GrpcTransport (gRPC over
// HTTP/2). A Subchannel creates transports and replaces them when they close or drain.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "call_data.h"
#include "call_slab.h"
#include "connector.h"
#include "deadline_queue.h"
#include "krpc/client_options.h"
#include "krpc/endpoint.h"
#include "krpc/log.h"
#include "krpc/net/stream.h"
#include "krpc/net/tls_context.h"

namespace krpc::impl {

class Transport;

// Told about a transport's life; called on the transport's thread.
class TransportListener {
 public:
  virtual ~TransportListener() = default;
  virtual void OnTransportReady(Transport* t) = 0;
  // The transport takes no new calls (GOAWAY received).
  virtual void OnTransportDraining(Transport* t) = 0;
  // `was_ready`: false when the connection was never established; `peer_silent`: closed
  // because the peer sent nothing, not even PONGs, for the heartbeat window.
  virtual void OnTransportClosed(Transport* t, const Status& why, bool was_ready, bool peer_silent) = 0;
  // An attempt sent through the transport ended: the listener counts it, then reports it to
  // the call (Attempt::Done).
  virtual void OnAttemptEnded(Attempt* attempt, Status status, bool not_executed) = 0;
};

class Transport : private Connector::Owner {
 public:
  using Clock = std::chrono::steady_clock;
  enum class State { kConnecting, kReady, kDraining, kClosed };

  virtual ~Transport();
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  // Owning thread only (asserted in debug builds).
  bool InLoop() const;
  void Connect();
  // Sends the attempt (queued until connected). Its end goes to the listener, which reports
  // it to the call's sink.
  void StartCall(Attempt* attempt);
  void Close(const Status& why);
  // The endpoint left the service (owning thread): no new calls; calls already sent finish,
  // then the connection closes. A connection still connecting closes at once (its calls were
  // never sent, so they go elsewhere).
  void Retire(const std::string& why);
  State state() const { return state_; }
  bool accepting() const { return state_ == State::kConnecting || state_ == State::kReady; }
  size_t inflight() const { return calls_.size(); }
  // Full: max_queued_request_bytes unanswered, or requests waiting for room (the pool spreads
  // load). A connection still connecting is not full: its requests wait for it.
  bool write_queue_full() const { return state_ == State::kReady && (!unwritten_.empty() || QueueFull()); }

  // Any thread.
  void Cancel(uint64_t call_id);
  const Endpoint& endpoint() const { return endpoint_; }
  // Why the TLS handshake failed ("unknown_ca", "name_mismatch", ...); empty if it did not.
  const std::string& tls_failure() const { return connector_.tls_failure(); }

 protected:
  Transport(boost::asio::any_io_executor executor, Endpoint endpoint, ConnectionOptions options,
            std::weak_ptr<TransportListener> listener, std::shared_ptr<net::TlsContext> tls);

  // --- the protocol's part, on the owning thread ---
  virtual std::shared_ptr<Transport> Ref() = 0;
  virtual net::Stream& TheStream() = 0;
  // Connected (the socket is configured): start reading and send what is queued.
  virtual void OnStreamConnected() = 0;
  // Puts the attempt (registered as `id`) on the wire, or fails it: then it takes the id back
  // (TakeCall) and completes it, and returns false.
  virtual bool SendRequest(Attempt* attempt, uint64_t id, Clock::time_point now) = 0;
  // Whether a request must wait unencoded (see WriteWaiting) although the queue has room: the
  // protocol cannot write yet (not connected).
  virtual bool WriteBlocked() const { return false; }
  // Tells the server the attempt `id` is abandoned (its deadline, or a cancel).
  virtual void SendCancel(uint64_t id) = 0;
  virtual void SendPing() = 0;
  // Nothing was sent for a heartbeat interval: give back the write buffer a burst grew.
  virtual void ReleaseIdleMemory() {}
  // Whether the transport PINGs an idle peer and closes a silent one (heartbeat_interval_ms,
  // heartbeat_miss_limit). gRPC servers police pings (a few without data between them earn
  // GOAWAY ENHANCE_YOUR_CALM), so the gRPC transport does not.
  virtual bool UsesHeartbeats() const { return true; }
  virtual Clock::time_point LastRecv() const = 0;
  virtual void CloseStream() = 0;

  // --- for the protocol ---
  // Room was made (answers came, or the connection became writable): sends the requests that
  // waited, in order, while the queue has room; drops those whose deadline passed (not
  // executed).
  void WriteWaiting();
  // SendRequest encoded `bytes` for the attempt: they count against max_queued_request_bytes
  // until the attempt ends.
  void NoteQueued(Attempt* a, size_t bytes, Clock::time_point now) {
    a->queued_bytes = static_cast<uint32_t>(bytes);
    a->queued_at = now;
    queued_bytes_ += bytes;
  }
  void CompleteCall(Attempt* attempt, Status status, bool not_executed);
  // Ends an attempt: through the listener (which counts it) to the call's sink.
  void EndAttempt(Attempt* attempt, Status status, bool not_executed);
  Attempt* TakeCall(uint64_t id) { return calls_.Take(id); }
  // GOAWAY(OK) received: no new calls; calls already sent are answered, then it closes.
  void StartDraining(std::string_view why);
  // The read side ended (eof or an error): closes with the write error if a write failed
  // first, else "connection lost".
  void ReadFailed(const boost::system::error_code& ec);
  // A write failed: stop writing, keep reading until the read side ends (the peer may have
  // answered before closing, e.g. an error naming a limit), and fail what is left then.
  void WriteFailed(const boost::system::error_code& ec);
  const std::string& address() const { return address_; }
  const ConnectionOptions& options() const { return options_; }
  bool writable() const { return (state_ == State::kReady || state_ == State::kDraining) && write_error_.ok(); }
  void set_peer_silent() { peer_silent_ = true; }
  Clock::time_point last_send_;

 private:
  // Connector::Owner
  std::shared_ptr<Connector> ConnectorRef() override { return {Ref(), &connector_}; }
  net::Stream& ConnectStream() override { return TheStream(); }
  void OnConnectDone(const Status& status) override;
  void BecomeReady();
  void MaybeFinishDrain();
  void ArmDeadline(Clock::time_point when);
  void OnDeadline();
  void ArmHeartbeat();
  void OnHeartbeat();

  boost::asio::any_io_executor executor_;
  const boost::asio::execution_context* loop_;  // compared only (debug thread checks)
  const Endpoint endpoint_;
  const ConnectionOptions options_;
  const std::weak_ptr<TransportListener> listener_;
  const std::string address_;
  Connector connector_;
  boost::asio::steady_timer deadline_timer_;
  boost::asio::steady_timer heartbeat_timer_;
  State state_ = State::kConnecting;
  bool was_ready_ = false;
  bool peer_silent_ = false;
  Status write_error_;         // set once a write failed; the read side decides the end
  CallSlab calls_;
  bool QueueFull() const { return queued_bytes_ >= options_.max_queued_request_bytes; }
  struct Waiting {
    uint64_t id;
    Clock::time_point since;
  };
  // Requests waiting for room to be written, oldest first. Written oldest first, until the
  // oldest has waited longer than answers take and than the time it has left (a standing
  // queue): then newest first, so what is written still has its deadline ahead and the oldest
  // expire unsent (adaptive LIFO, as in Facebook's "Fail at Scale"). Under overload, FIFO
  // would write only calls about to expire; a long deadline keeps FIFO's fairness.
  std::deque<Waiting> unwritten_;
  size_t queued_bytes_ = 0;         // encoded request bytes of attempts not yet ended
  // Smoothed wait from encoding a request to its answer (EWMA, 1/8 per sample): a request
  // that waited for room and has less time left than this is not sent.
  Clock::duration answer_wait_{};
  uint64_t answers_ = 0;
  bool writing_waiting_ = false;    // WriteWaiting runs (an attempt it ends must not re-enter)
  DeadlineQueue deadlines_;  // wake-ups: each attempt's deadline, and its hedge time
  Clock::time_point deadline_armed_ = Clock::time_point::max();
  // Held per connection (looked up once, when it is made), not cached per thread: a
  // thread_local copy was released by a detached I/O thread's TLS destructors, racing the
  // process's own release of the logger (TSan).
  std::shared_ptr<spdlog::logger> log_;
};

}  // namespace krpc::impl
