// H2Connection: an HTTP/2 connection over the Stream seam, driven by nghttp2 (framing, HPACK,
// flow control, SETTINGS, PING, GOAWAY all come from the library). It reads what has arrived
// into the thread's scratch buffer and feeds nghttp2 (which keeps no more than it was sent),
// and writes what nghttp2 produces with one write at a time. Unary exchanges only: a message
// body is sent whole from a string, optionally followed by trailers. The node's gRPC server
// connection and the SDK's gRPC transport derive from it.
//
// Threading: one I/O thread owns the connection; every call and hook runs there. Lifetime:
// each pending asynchronous operation holds a shared_ptr to the connection. Internal header.
#pragma once

#include <boost/system/error_code.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "krpc/net/h2_settings.h"
#include "krpc/net/stream.h"

struct nghttp2_session;

namespace krpc::net {

class H2Connection : public std::enable_shared_from_this<H2Connection> {
 public:
  using Clock = std::chrono::steady_clock;
  virtual ~H2Connection();
  H2Connection(const H2Connection&) = delete;
  H2Connection& operator=(const H2Connection&) = delete;

 protected:
  enum class Role { kClient, kServer };
  H2Connection(Stream stream, Role role, H2Settings settings,
               std::shared_ptr<const void> keep_alive = nullptr);

  // Sends our SETTINGS (and, for a client, the preface); then reading begins.
  void Start();
  // Writes what nghttp2 has to send unless a write is on the wire.
  void Flush();
  // While one lives, what is submitted is written when it ends (not at each submit): a flush
  // runs nghttp2's send loop, whose callbacks may close streams (OnStreamClosed), so code that
  // holds a reference to its own state for a stream batches its submits in one of these.
  class BatchedWrites {
   public:
    explicit BatchedWrites(H2Connection& c) : c_(c) { ++c_.batching_; }
    ~BatchedWrites() {
      if (--c_.batching_ == 0) c_.FlushSoon();
    }
    BatchedWrites(const BatchedWrites&) = delete;
    BatchedWrites& operator=(const BatchedWrites&) = delete;

   private:
    H2Connection& c_;
  };
  // Server: a response (headers, then `body` as DATA, then `trailers` if any; with no body and
  // no trailers the headers end the stream). Returns false when the stream is gone.
  bool SubmitResponse(int32_t stream_id, const Headers& headers, std::string body, Headers trailers);
  // Server: a response that stays open (a server stream): the headers now, data with SendData
  // as messages come, the trailers with CloseResponse. nghttp2 takes the data as the peer's
  // window allows; what it has not taken yet is unsent_bytes() (a writer bounds it). Each
  // returns false when the stream is gone (reset, or the connection closed).
  bool OpenResponse(int32_t stream_id, const Headers& headers);
  bool SendData(int32_t stream_id, std::string_view bytes);
  bool CloseResponse(int32_t stream_id, Headers trailers);
  size_t unsent_bytes(int32_t stream_id) const;
  // With H2Settings::manual_window: `n` bytes of DATA received on the stream were used; they
  // go back to the stream's and the connection's windows (a WINDOW_UPDATE once half a window
  // is used). Bytes of a stream that closed go back to the connection's window.
  void Consume(int32_t stream_id, size_t n);
  // Client: a request with `body`; returns the stream id (> 0) or a negative nghttp2 error.
  int32_t SubmitRequest(const Headers& headers, std::string body);
  // Client: a request that stays open (a client or bidi stream): the headers now, data with
  // SendData, the half-close with CloseResponse(stream_id, {}) (no trailers). Returns the
  // stream id (> 0) or a negative nghttp2 error.
  int32_t OpenRequest(const Headers& headers);
  // An HTTP/2 PING (the peer answers with an ACK: a heartbeat).
  void SubmitPing();
  // Resets a stream (error_code: an HTTP/2 error code, e.g. 8 = CANCEL).
  void ResetStream(int32_t stream_id, uint32_t error_code);
  // GOAWAY: last_stream_id < 0 means the last stream the session processed.
  void SubmitGoaway(uint32_t error_code, std::string_view debug, int32_t last_stream_id = -1);
  // Server: the first half of a graceful shutdown (RFC 9113 6.8): a GOAWAY with the largest
  // stream id, so the client opens no new stream, and a PING carrying `ping_opaque`; once its
  // ACK arrives (OnPingAck) every stream the client opened before is here, and the final
  // GOAWAY (SubmitGoaway) can name the last one exactly.
  void SubmitShutdownNotice(uint64_t ping_opaque);
  // No more streams to read or write: the session is done (after GOAWAY and the last stream).
  bool SessionDone() const;
  // Streams open on the session, either direction.
  size_t open_streams() const { return open_streams_; }
  // The peer's SETTINGS_MAX_CONCURRENT_STREAMS (client side).
  uint32_t peer_max_concurrent_streams() const;
  Stream& stream() { return stream_; }
  Clock::time_point last_recv() const { return last_recv_; }
  bool output_idle() const { return !write_in_progress_; }
  // Frees the write buffer when nothing is being written (for idle connections).
  void ReleaseIdleBuffers();

  // --- hooks, all on the owning thread ---
  virtual bool OwningThread() const = 0;
  // False once the connection stopped reading (closing or closed).
  virtual bool Reading() const = 0;
  // A request (server) or response / trailers (client) header block begins on a stream.
  virtual void OnBeginHeaders(int32_t stream_id) = 0;
  // One header; false resets the stream (e.g. too many header bytes).
  virtual bool OnHeader(int32_t stream_id, std::string_view name, std::string_view value) = 0;
  // Server: a request's header block is complete (before its body, if any).
  virtual void OnRequestHeaders(int32_t stream_id) {}
  // Body bytes of a stream as they arrive; false resets the stream.
  virtual bool OnData(int32_t stream_id, std::string_view data) = 0;
  // The peer ended its side of the stream (END_STREAM on HEADERS or DATA).
  virtual void OnStreamEnd(int32_t stream_id) = 0;
  // The stream closed (error_code 0 = normally; else RST_STREAM or the connection's end).
  virtual void OnStreamClosed(int32_t stream_id, uint32_t error_code) = 0;
  // The peer sent GOAWAY: streams above last_stream_id were not processed.
  virtual void OnGoaway(int32_t last_stream_id, uint32_t error_code) {}
  // The peer acknowledged our PING with this opaque data.
  virtual void OnPingAck(uint64_t opaque) {}
  // The bytes broke HTTP/2 (nghttp2 said why); the connection must end.
  virtual void OnSessionError(std::string detail) = 0;
  virtual void OnReadFailed(const boost::system::error_code& ec) = 0;
  virtual void OnWriteFailed(const boost::system::error_code& ec) = 0;
  virtual void OnBytesRead(size_t n) {}
  virtual void OnBytesWritten(size_t n) {}
  // nghttp2 took bytes of an open response or request (OpenResponse, OpenRequest) to send:
  // unsent_bytes() fell. Runs
  // inside nghttp2's send loop: post what it starts, submit nothing here.
  virtual void OnSendProgress(int32_t stream_id) {}
  // Nothing is queued or on the wire (SessionDone() then says whether the session ended).
  virtual void OnOutputDrained() {}

 private:
  struct Outgoing {
    std::string body;
    size_t offset = 0;
    Headers trailers;
    bool open = false;      // a response that stays open (OpenResponse): more data may come
    bool deferred = false;  // nghttp2 was told to wait for data (resume on SendData)
  };
  bool Resume(int32_t stream_id, Outgoing& o);
  // Flush(), unless inside nghttp2's receive loop (which flushes after) or a BatchedWrites.
  void FlushSoon() {
    if (!in_recv_ && batching_ == 0) Flush();
  }
  friend struct H2Callbacks;
  void WaitReadable();
  void OnReadable(const boost::system::error_code& ec);
  void OnWrite(const boost::system::error_code& ec, size_t n);
  long ReadBody(int32_t stream_id, uint8_t* buf, size_t length, uint32_t* flags);

  std::shared_ptr<const void> keep_alive_;  // declared first: destroyed last
  Stream stream_;
  const Role role_;
  const H2Settings settings_;
  nghttp2_session* session_ = nullptr;
  std::unordered_map<int32_t, Outgoing> outgoing_;  // bodies being sent (references stay valid)
  std::vector<char> writing_;
  bool write_in_progress_ = false;
  bool in_recv_ = false;
  bool in_flush_ = false;
  int batching_ = 0;  // BatchedWrites alive
  bool started_ = false;
  bool goaway_submitted_ = false;
  uint64_t notice_ping_ = 0;          // SubmitShutdownNotice's PING, sent once the notice is out
  bool notice_ping_pending_ = false;  // by us (SubmitGoaway), not by nghttp2 for a broken peer
  size_t open_streams_ = 0;
  Clock::time_point last_recv_ = Clock::now();
};

}  // namespace krpc::net
