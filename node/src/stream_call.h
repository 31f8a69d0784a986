// StreamCall: the node's side of one streaming call, whatever protocol carries it: the
// handler's ServerStream (Read, Write, Finish) over the connection's stream operations
// (CallHost::SendStreamMessage, StreamUnsent, StreamConsumed, EndStream). It keeps the client's
// messages that arrived and were not read yet (the protocol's window bounds them: bytes go
// back to the client only as they are read) and at most one pending read and one pending write.
//
// Threading: every member is touched on the connection's thread; Read, Write and Finish post
// there from any thread, and the handler's callbacks are posted from there (never run inside
// the call that started them). Lifetime: shared by the connection (while the protocol stream
// is open) and the handler; it holds its ServerCall (the controller) until it is destroyed.
#pragma once

#include <boost/asio/steady_timer.hpp>

#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "krpc/server_stream.h"

namespace krpc::node {

class CallHost;
class ServerCall;

class StreamCall final : public ServerStream, public std::enable_shared_from_this<StreamCall> {
 public:
  // A write completes while the stream's unsent bytes are at most this (plus one message).
  static constexpr size_t kSendBuffer = 64 * 1024;

  StreamCall(std::shared_ptr<CallHost> host, ServerCall* call);
  ~StreamCall() override;

  // ServerStream (any thread)
  ServerController& controller() override;
  void Read(google::protobuf::Message* into, std::function<void(bool)> done) override;
  void Write(const google::protobuf::Message& message, std::function<void(bool)> done) override;
  void Finish(Status status) override;

  // --- from the connection, on its thread ---
  // Starts the deadline's timer (a call that outlives its deadline ends DEADLINE_EXCEEDED).
  void Start();
  // One whole message from the client (payload, decoded): the bytes it took on the wire (held
  // in the node's memory budget) and those of them not yet returned to the client's window.
  // Both go back (StreamConsumed) when the handler reads it, or when the stream ends.
  void OnMessage(std::string payload, size_t wire_bytes, size_t window_bytes);
  // Messages that arrived and wait for a read.
  size_t queued() const { return inbound_.size(); }
  // The client sent its last message (half-close).
  void OnHalfClose();
  // The protocol may take more bytes of this stream (unsent bytes fell).
  void OnProgress();
  // The call is over for the protocol (cancel, reset, connection closed, deadline, the final
  // status sent): reads and writes end false from now on.
  void OnEnded();
  bool finished() const { return finished_; }

 private:
  struct Inbound {
    std::string payload;
    size_t wire_bytes;
    size_t window_bytes;
  };
  void DoRead(google::protobuf::Message* into, std::function<void(bool)> done);
  void DoWrite(std::string payload, std::function<void(bool)> done);
  void DoFinish(Status status);
  // Hands the oldest message to the pending read (or false at the end); posts its callback.
  void ServeRead();
  void ServeWrite();
  // Ends the call before the handler did (deadline, a message that does not parse): the
  // status goes to the client now, the handler sees a cancel.
  void EndEarly(Status status);
  template <typename F>
  void Post(F&& f);

  std::shared_ptr<CallHost> host_;
  ServerCall* call_;  // counted reference (released in the destructor)
  const uint64_t call_id_;
  std::deque<Inbound> inbound_;
  google::protobuf::Message* read_into_ = nullptr;
  std::function<void(bool)> read_done_;
  std::function<void(bool)> write_done_;
  bool half_closed_ = false;  // the client sends no more
  bool ended_ = false;        // the protocol stream is over
  bool finished_ = false;     // the handler ran Finish (or the call ended early)
  bool write_waiting_ = false;  // the pending write waits for the client's window (counted)
  std::optional<boost::asio::steady_timer> deadline_timer_;
};

}  // namespace krpc::node
