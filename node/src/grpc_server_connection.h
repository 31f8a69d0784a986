// GrpcServerConnection: one accepted connection that opened with the HTTP/2 preface, serving
// unary gRPC calls (h2c) with the same handlers, interceptor, limits, metrics and drain as the
// krpc protocol (CallHost). HTTP/2 comes from nghttp2 (net::H2Connection); a stream's request
// body is kept only as it arrives, within max_body_bytes and the node's memory budget for
// partly received requests (max_pending_frame_bytes). See docs/protocol.md "gRPC".
//
// What every protocol shares (idle kick, close-after-flush, close accounting) is its
// ConnectionLife; this class supplies the HTTP/2 operations (GOAWAY before an idle close).
//
// Threading: one I/O thread owns it; every member is touched only there.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <google/protobuf/message_lite.h>

#include <memory>
#include <string>
#include <unordered_map>

#include "call_host.h"
#include "connection_life.h"
#include "krpc/net/grpc_wire.h"
#include "krpc/net/h2_connection.h"
#include "krpc/server_controller.h"
#include "stream_call.h"

namespace krpc::node {

class GrpcServerConnection final : public net::H2Connection, public CallHost, private ConnectionLife::Ops {
 public:
  GrpcServerConnection(net::Stream stream, std::shared_ptr<ServerShared> shared, uint64_t id);
  ~GrpcServerConnection() override;

  // CallHost: sends SETTINGS and begins reading, or refuses with an HTTP/2 GOAWAY.
  void Start(Refusal refusal) override;
  void Goaway() override;
  void Complete(ServerCall* call) override;
  bool OwningThread() const override { return OnOwningThread(); }

 private:
  // A request stream: its headers, then its body as it arrives, then its call.
  struct Request {
    std::string path;
    std::string http_method;
    std::string content_type;
    std::string encoding;
    std::string timeout;
    uint64_t timeout_us = 0;  // parsed from `timeout` (0: none)
    ServerController::Metadata metadata;
    std::string body;
    size_t header_bytes = 0;
    bool answered = false;       // answered before its end (refused on its headers, too large, over budget)
    ServerCall* call = nullptr;  // while its handler runs
    bool watch = false;          // grpc.health.v1.Health/Watch (grpc_health_watch.cc)
    // A streaming call (grpc_server_streams.cc): its stream, the client's messages as they
    // arrive (a message not whole yet is charged to the node's budget), and how far the
    // response got.
    std::shared_ptr<StreamCall> stream;
    net::grpc::MessageCutter cutter;
    bool response_open = false;    // headers sent (with the first message)
    bool response_closed = false;  // status sent (the handler finished, or the call ended early)
  };
  std::shared_ptr<GrpcServerConnection> self() {
    return std::static_pointer_cast<GrpcServerConnection>(shared_from_this());
  }
  std::shared_ptr<CallHost> HostRef() override { return self(); }
  ConnectionLife& Life() override { return life_; }
  void Reject(uint64_t call_id, StatusCode code, std::string message, int pushback_ms) override;

  // net::H2Connection
  bool Reading() const override { return life_.reading(); }
  void OnBeginHeaders(int32_t stream_id) override;
  bool OnHeader(int32_t stream_id, std::string_view name, std::string_view value) override;
  void OnRequestHeaders(int32_t stream_id) override;
  bool OnData(int32_t stream_id, std::string_view data) override;
  void OnStreamEnd(int32_t stream_id) override;
  void OnStreamClosed(int32_t stream_id, uint32_t error_code) override;
  void OnSessionError(std::string detail) override;
  void OnReadFailed(const boost::system::error_code& ec) override;
  void OnWriteFailed(const boost::system::error_code& ec) override { life_.Close(ec.message()); }
  void OnBytesRead(size_t n) override { shared_->observer->OnBytes(n, 0); }
  void OnBytesWritten(size_t n) override { shared_->observer->OnBytes(0, n); }
  void OnOutputDrained() override;
  void OnPingAck(uint64_t opaque) override;

  void StartCall(int32_t stream_id, Request& req);
  // The response headers of a call: content type, encodings, the handler's response metadata.
  static net::Headers ResponseHeaders(const ServerCall& call);

  // Streaming calls (grpc_server_streams.cc): admitted and dispatched on their headers; the
  // client's messages go to the handler as they arrive and are read, its messages out as it
  // writes them, within the windows (a reader that stops reading shuts the client's).
  void StartStream(int32_t stream_id, Request& req);
  void StreamData(int32_t stream_id, Request& req, std::string_view data);
  // Sends the final status (trailers, or Trailers-Only before any message) once.
  void CloseStream(int32_t stream_id, Request& req, const Status& status, const ServerController* call);
  // The stream is over for the protocol: the handler's side learns it, its bytes go back.
  void DropStream(int32_t stream_id, Request& req);
  Status SendStreamMessage(uint64_t call_id, std::string_view payload) override;
  size_t StreamUnsent(uint64_t call_id) const override { return unsent_bytes(static_cast<int32_t>(call_id)); }
  void StreamConsumed(uint64_t call_id, size_t wire_bytes, size_t window_bytes) override;
  void EndStream(uint64_t call_id, const Status& status) override;
  void OnSendProgress(int32_t stream_id) override;
  // Answers with only trailers (HEADERS with grpc-status, ending the stream).
  void RespondStatus(int32_t stream_id, StatusCode code, std::string_view message, int pushback_ms = kNoPushback);
  void ReleaseBody(Request& req);
  // The one message of a request's body (gzip inflated) parsed into `into`; the body is
  // released either way. INTERNAL for framing, INVALID_ARGUMENT for a message that does not parse.
  Status ParseBody(Request& req, google::protobuf::MessageLite* into);
  // grpc-status and (when there is one) the percent-encoded grpc-message.
  static void AppendStatus(net::Headers& h, StatusCode code, std::string_view message);
  // The handler's trailing metadata.
  static void AppendTrailing(net::Headers& h, const ServerController& call);

  // grpc.health.v1.Health/Watch, a server stream (grpc_health_watch.cc): the node's health
  // for a service now, then when it changes. The node's only change is the drain: NOT_SERVING,
  // then the stream ends UNAVAILABLE so the drain does not wait for it.
  static constexpr std::string_view kHealthWatch = "/grpc.health.v1.Health/Watch";
  void StartWatch(int32_t stream_id, Request& req);
  bool SendHealth(int32_t stream_id, const std::string& service);
  void EndWatches();

  // ConnectionLife::Ops
  std::shared_ptr<ConnectionLife> LifeRef() override { return {self(), &life_}; }
  net::Stream& Transport() override { return stream(); }
  bool FlushOutput() override;
  ConnectionLife::Clock::time_point LastReceived() const override { return last_recv(); }
  bool HasWork() const override { return inflight_ > 0 || !streams_.empty(); }
  bool OnTick(ConnectionLife::Clock::time_point) override { return true; }
  void ReleaseIdleBuffers() override { H2Connection::ReleaseIdleBuffers(); }
  bool QueueIdleGoodbye() override;
  void OnClosed() override;

  std::unordered_map<int32_t, Request> streams_;
  std::unordered_map<int32_t, std::string> watches_;  // open Health/Watch streams: their service
  ConnectionLife life_;
  bool goaway_sent_ = false;   // the final GOAWAY: streams that begin now are refused
  static constexpr uint64_t kDrainPing = 0x4941524463707200;
};

}  // namespace krpc::node
