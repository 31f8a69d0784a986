// GrpcTransport: a Transport speaking gRPC over HTTP/2 (h2c, prior knowledge) to any gRPC
// server, through nghttp2 (net::H2Connection). Unary calls: each attempt is one stream
// (:path from the method, grpc-timeout from the attempt's deadline, metadata as headers);
// the answer is grpc-status / grpc-message from the trailers (or a Trailers-Only response).
// A server's GOAWAY drains it; streams the server never processed (REFUSED_STREAM, or above
// its GOAWAY's last stream) fail as not executed, so they are retried elsewhere.
// Owned by one I/O thread. Internal header.
#pragma once

#include <unordered_map>

#include "client_stream_core.h"
#include "krpc/net/grpc_wire.h"
#include "krpc/net/h2_connection.h"
#include "transport.h"

namespace krpc::impl {

class GrpcTransport final : public net::H2Connection, public Transport, public StreamWire {
 public:
  using Clock = Transport::Clock;
  GrpcTransport(boost::asio::any_io_executor executor, Endpoint endpoint, ConnectionOptions options,
                std::weak_ptr<TransportListener> listener, std::shared_ptr<net::TlsContext> tls);
  ~GrpcTransport() override;
  bool OwningThread() const override { return InLoop(); }

 private:
  struct Pending {
    uint64_t id = 0;  // the attempt's call id
    int http_status = 0;
    int grpc_status = -1;  // -1: none received
    std::string grpc_message;
    std::string body;
    bool too_large = false;
    std::vector<std::pair<std::string, std::string>> metadata;  // the handler's response metadata
    // A streaming call (grpc_transport_streams.cc): its core, and the server's messages as
    // they arrive.
    std::shared_ptr<ClientStreamCore> stream;
    net::grpc::MessageCutter cutter;
  };
  std::shared_ptr<GrpcTransport> self() { return std::static_pointer_cast<GrpcTransport>(shared_from_this()); }
  // Transport
  std::shared_ptr<Transport> Ref() override { return self(); }
  net::Stream& TheStream() override { return stream(); }
  void OnStreamConnected() override;
  bool SendRequest(Attempt* attempt, uint64_t id, Clock::time_point now) override;
  void SendCancel(uint64_t id) override;
  void SendPing() override { SubmitPing(); }
  void ReleaseIdleMemory() override { ReleaseIdleBuffers(); }
  // gRPC servers answer frequent PINGs with GOAWAY (too_many_pings): no heartbeats; a hung
  // server is caught by deadlines, per-try timeouts, stall detection and the breaker.
  bool UsesHeartbeats() const override { return false; }
  Clock::time_point LastRecv() const override { return last_recv(); }
  void CloseStream() override { stream().Close(); }
  // net::H2Connection
  bool Reading() const override { return state() != State::kClosed; }
  void OnBeginHeaders(int32_t) override {}
  bool OnHeader(int32_t stream_id, std::string_view name, std::string_view value) override;
  bool OnData(int32_t stream_id, std::string_view data) override;
  void OnStreamEnd(int32_t stream_id) override;
  void OnStreamClosed(int32_t stream_id, uint32_t error_code) override;
  void OnGoaway(int32_t last_stream_id, uint32_t error_code) override;
  void OnSessionError(std::string detail) override;
  void OnReadFailed(const boost::system::error_code& ec) override { ReadFailed(ec); }
  void OnWriteFailed(const boost::system::error_code& ec) override { WriteFailed(ec); }
  void OnOutputDrained() override;
  void OnSendProgress(int32_t stream_id) override;

  // Streams (grpc_transport_streams.cc).
  bool OpenStream(Attempt* a, uint64_t id, net::Headers headers);
  // The server's bytes of a streaming call: whole messages go to the core.
  bool StreamData(int32_t stream_id, Pending& p, std::string_view data);
  // StreamWire
  // (The wire's stream ids are HTTP/2 stream ids.)
  bool SendStreamMessage(uint64_t stream_id, std::string_view payload) override;
  bool CloseSend(uint64_t stream_id) override;
  size_t StreamUnsent(uint64_t stream_id) const override { return unsent_bytes(static_cast<int32_t>(stream_id)); }
  void StreamConsumed(uint64_t stream_id, size_t window_bytes) override;

  std::string authority_;
  std::unordered_map<int32_t, Pending> streams_;      // by stream id
  std::unordered_map<uint64_t, int32_t> stream_of_;   // call id -> stream id
  int32_t goaway_last_stream_ = INT32_MAX;
};

}  // namespace krpc::impl
