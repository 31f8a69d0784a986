// Transport: one client connection to one endpoint, owned by one I/O thread. A framed
// connection (net::FramedConnection: read batches, PONGs, coalesced writes) that multiplexes
// attempts by call id, enforces per-attempt deadlines and hedge times with one timer per
// connection (a heap of wake-ups, not a kernel timer per call), sends PING when idle and closes on missed heartbeats. A Subchannel
// creates transports and replaces them when they close or drain.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <memory>
#include <queue>
#include <string>
#include <vector>

#include "call_data.h"
#include "call_slab.h"
#include "krpc/codec/frame.h"
#include "krpc/client_options.h"
#include "krpc/endpoint.h"
#include "krpc/net/framed_connection.h"
#include "krpc/wire.pb.h"

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
};

class Transport final : public net::FramedConnection {
 public:
  enum class State { kConnecting, kReady, kDraining, kClosed };

  Transport(boost::asio::any_io_executor executor, Endpoint endpoint, ConnectionOptions options,
            std::weak_ptr<TransportListener> listener);
  ~Transport();

  // Owning thread only (asserted in debug builds).
  bool InLoop() const;
  bool OwningThread() const override { return InLoop(); }
  void Connect();
  // Sends the attempt (queued until connected). Its end goes to the call's sink.
  void StartCall(Attempt* attempt);
  void Close(const Status& why);
  State state() const { return state_; }
  bool accepting() const { return state_ == State::kConnecting || state_ == State::kReady; }
  size_t inflight() const { return calls_.size(); }

  // Any thread.
  void Cancel(uint64_t call_id);
  const Endpoint& endpoint() const { return endpoint_; }

 private:
  std::shared_ptr<Transport> self() { return std::static_pointer_cast<Transport>(shared_from_this()); }
  void OnResolved(const boost::system::error_code& ec, boost::asio::ip::tcp::resolver::results_type results);
  void OnConnected(const boost::system::error_code& ec);
  // net::FramedConnection
  bool Reading() const override { return state_ != State::kClosed; }
  bool CanWrite() const override;
  bool OnFrame(const codec::FrameView& frame) override;
  void OnDecodeError(const codec::DecodeResult& r) override;
  void OnProtocolError(std::string_view reason, std::string detail) override;
  void OnReadFailed(const boost::system::error_code& ec) override;
  void OnOverBudget() override;
  void OnWriteFailed(const boost::system::error_code& ec) override;

  void HandleResponse(const codec::FrameView& frame);
  void HandleGoaway(const codec::FrameView& frame);
  void CompleteCall(Attempt* attempt, Status status, bool not_executed);
  void SendCancel(uint64_t call_id);
  void ArmDeadline(Clock::time_point when);
  void OnDeadline();
  void ArmHeartbeat();
  void OnHeartbeat();
  void MaybeFinishDrain();

  boost::asio::any_io_executor executor_;
  const boost::asio::execution_context* loop_;  // compared only (debug thread checks)
  const Endpoint endpoint_;
  const ConnectionOptions options_;
  const std::weak_ptr<TransportListener> listener_;
  const std::string address_;
  boost::asio::ip::tcp::resolver resolver_;
  boost::asio::steady_timer connect_timer_;
  boost::asio::steady_timer deadline_timer_;
  boost::asio::steady_timer heartbeat_timer_;
  State state_ = State::kConnecting;
  bool was_ready_ = false;
  bool peer_silent_ = false;
  Status write_error_;         // set once a write failed; the read side decides the end
  CallSlab calls_;
  // A wake-up: the attempt's deadline, or (hedge) its hedge time.
  struct DeadlineEntry {
    Clock::time_point when;
    uint64_t id;
    bool hedge;
    bool operator>(const DeadlineEntry& o) const { return when > o.when; }
  };
  std::priority_queue<DeadlineEntry, std::vector<DeadlineEntry>, std::greater<>> deadlines_;
  Clock::time_point deadline_armed_ = Clock::time_point::max();
  Clock::time_point last_send_;
  uint64_t ping_nonce_ = 0;
  wire::RequestHeader scratch_request_;
  wire::ResponseHeader scratch_response_;
};

}  // namespace krpc::impl
