// KrpcTransport: a Transport speaking the krpc framed protocol over a net::FramedConnection
// (read batches, PONGs, coalesced writes): REQUEST, RESPONSE, CANCEL, PING, GOAWAY, and the
// stream frames STREAM_ACCEPT, MESSAGE and CREDIT (krpc_transport_streams.cc).
// Owned by one I/O thread. Internal header.
#pragma once

#include <deque>
#include <unordered_map>

#include "client_stream_core.h"
#include "krpc/codec/frame.h"
#include "krpc/net/framed_connection.h"
#include "krpc/wire.pb.h"
#include "transport.h"

namespace krpc::impl {

class KrpcTransport final : public net::FramedConnection, public Transport, public StreamWire {
 public:
  using Clock = Transport::Clock;
  KrpcTransport(boost::asio::any_io_executor executor, Endpoint endpoint, ConnectionOptions options,
                std::weak_ptr<TransportListener> listener, std::shared_ptr<net::TlsContext> tls);
  ~KrpcTransport() override;
  bool OwningThread() const override { return InLoop(); }

 private:
  std::shared_ptr<KrpcTransport> self() { return std::static_pointer_cast<KrpcTransport>(shared_from_this()); }
  // Transport
  std::shared_ptr<Transport> Ref() override { return self(); }
  net::Stream& TheStream() override { return stream(); }
  void OnStreamConnected() override;
  bool SendRequest(Attempt* attempt, uint64_t id, Clock::time_point now) override;
  // Until connected every request waits unencoded (one that expires meanwhile is never sent).
  bool WriteBlocked() const override { return !writable(); }
  void SendCancel(uint64_t id) override;
  void SendPing() override;
  void ReleaseIdleMemory() override { ReleaseIdleBuffers(); }
  Clock::time_point LastRecv() const override { return last_recv(); }
  void CloseStream() override { stream().Close(); }
  // net::FramedConnection
  bool Reading() const override { return state() != State::kClosed; }
  bool CanWrite() const override { return writable(); }
  bool OnFrame(const codec::FrameView& frame) override;
  void OnDecodeError(const codec::DecodeResult& r) override;
  void OnProtocolError(std::string_view reason, std::string detail) override;
  void OnReadFailed(const boost::system::error_code& ec) override { ReadFailed(ec); }
  void OnOverBudget() override;
  void OnWriteFailed(const boost::system::error_code& ec) override { WriteFailed(ec); }

  void HandleResponse(const codec::FrameView& frame);
  void HandleGoaway(const codec::FrameView& frame);

  // Streams (krpc_transport_streams.cc; docs/protocol.md "Streams on the krpc wire"): the
  // client's messages wait here until STREAM_ACCEPT and then for credit.
  static constexpr uint64_t kStreamWindow = 1u << 20;
  struct OpenStream {
    std::shared_ptr<ClientStreamCore> core;
    bool accepted = false;
    uint64_t send_credit = 0;
    uint64_t recv_outstanding = 0;
    std::deque<std::string> out;
    size_t out_bytes = 0;
    bool half_close = false;  // WritesDone: sent once `out` is
  };
  bool StartStream(Attempt* a, uint64_t id, Clock::time_point now);
  bool HandleStreamFrame(const codec::FrameView& frame);
  void PumpStream(uint64_t id, OpenStream& s);
  // The stream is over for the transport (its RESPONSE, a cancel): the core stops using it.
  void ForgetStream(uint64_t id);
  // StreamWire (ids are call ids)
  bool SendStreamMessage(uint64_t id, std::string_view payload) override;
  bool CloseSend(uint64_t id) override;
  size_t StreamUnsent(uint64_t id) const override;
  void StreamConsumed(uint64_t id, size_t window_bytes) override;
  std::unordered_map<uint64_t, OpenStream> streams_;

  uint64_t ping_nonce_ = 0;
  wire::RequestHeader scratch_request_;
  wire::ResponseHeader scratch_response_;
};

}  // namespace krpc::impl
