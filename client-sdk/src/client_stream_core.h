// ClientStreamCore: the SDK's side of one streaming call (krpc::ClientStream). It is the
// call's stream (CallData::stream): the channel picks an endpoint and a transport as for a
// unary call, and the transport attaches the core to the HTTP/2 stream it opened (Attach),
// hands it the server's messages as they arrive (OnMessage) and tells it when the stream may
// take more (OnProgress) or is gone (OnStreamEnded). The call's end (its status, through the
// retry policy and the breaker like a unary call's) comes last (OnCallDone).
//
// Writes and reads wait here until the stream is attached; a retry (allowed only before the
// call is committed: nothing written to the wire, nothing received) attaches it again.
//
// Threading: state under `mu_` (user calls come from any thread, the transport's from its
// loop; the transport's progress callback may arrive while the core calls it, hence a
// recursive mutex). Wire operations run on the attached transport's loop. Callbacks are posted
// there (or run on the ending thread for a stream that never reached an endpoint).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <google/protobuf/empty.pb.h>

#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "krpc/client_stream.h"

namespace krpc::impl {

// What a transport does for the streams it carries (on its loop).
class StreamWire {
 public:
  virtual ~StreamWire() = default;
  // One message (the protocol adds its framing); false when the stream is gone.
  virtual bool SendStreamMessage(uint64_t stream_id, std::string_view payload) = 0;
  // The client's half-close; false when the stream is gone.
  virtual bool CloseSend(uint64_t stream_id) = 0;
  virtual size_t StreamUnsent(uint64_t stream_id) const = 0;
  // The application read a message: `window_bytes` go back to the server's window.
  virtual void StreamConsumed(uint64_t stream_id, size_t window_bytes) = 0;
};

class ClientStreamCore final : public ClientStream, public std::enable_shared_from_this<ClientStreamCore> {
 public:
  static constexpr size_t kSendBuffer = 64 * 1024;

  // ClientStream (any thread)
  void Write(const google::protobuf::Message& message, std::function<void(bool)> done) override;
  void WritesDone(std::function<void(bool)> done) override;
  void Read(google::protobuf::Message* into, std::function<void(bool)> done) override;
  void Finish(std::function<void(const Status&)> done) override;
  void Cancel() override;

  // Set by Channel::OpenStream: how Cancel reaches the call.
  std::function<void()> cancel_call;
  // The call's `response` (never filled: the messages go through Read).
  google::protobuf::Empty unused_response;

  // --- the transport, on its loop ---
  void Attach(std::weak_ptr<StreamWire> wire, boost::asio::any_io_executor executor, uint64_t stream_id);
  void OnMessage(std::string payload, size_t window_bytes);
  void OnProgress();
  void OnStreamEnded();
  size_t queued() const;
  // Something was written to the wire or received: the call can no longer be retried.
  bool committed() const { return committed_.load(std::memory_order_acquire); }

  // The call ended (its `done`; any thread).
  void OnCallDone(const Status& status);

 private:
  struct PendingWrite {
    std::string payload;
    std::function<void(bool)> done;
    bool half_close = false;
  };
  struct Inbound {
    std::string payload;
    size_t window_bytes;
  };
  void Enqueue(PendingWrite w);
  void PostToLoop(std::function<void()> fn);
  void PumpWrites();  // loop
  void ServeRead();
  void Deliver(std::function<void(bool)> done, bool ok);

  mutable std::recursive_mutex mu_;
  std::weak_ptr<StreamWire> wire_;
  std::optional<boost::asio::any_io_executor> executor_;
  uint64_t stream_id_ = 0;  // the transport's name for the stream
  bool attached_ = false;
  std::deque<PendingWrite> writes_;
  std::function<void(bool)> write_waiting_;  // the write that waits for the stream to drain
  std::deque<Inbound> inbound_;
  google::protobuf::Message* read_into_ = nullptr;
  std::function<void(bool)> read_done_;
  bool ended_ = false;
  Status status_;
  std::function<void(const Status&)> finish_done_;
  std::atomic<bool> committed_{false};
};

}  // namespace krpc::impl
