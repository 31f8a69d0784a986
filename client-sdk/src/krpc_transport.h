// KrpcTransport: a Transport speaking the krpc framed protocol over a net::FramedConnection
// (read batches, PONGs, coalesced writes): REQUEST, RESPONSE, CANCEL, PING, GOAWAY.
// Owned by one I/O thread. Internal header.
#pragma once

#include "krpc/codec/frame.h"
#include "krpc/net/framed_connection.h"
#include "krpc/wire.pb.h"
#include "transport.h"

namespace krpc::impl {

class KrpcTransport final : public net::FramedConnection, public Transport {
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

  uint64_t ping_nonce_ = 0;
  wire::RequestHeader scratch_request_;
  wire::ResponseHeader scratch_response_;
};

}  // namespace krpc::impl
