// ServerController: what a service handler sees of its call. The `controller` argument of every
// generated service method is a krpc::ServerController (use ServerController::From()).
#pragma once

#include <google/protobuf/map.h>
#include <google/protobuf/service.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>

#include "krpc/peer_identity.h"
#include "krpc/status.h"

namespace krpc {

class ServerController : public google::protobuf::RpcController {
 public:
  using Clock = std::chrono::steady_clock;
  using Metadata = google::protobuf::Map<std::string, std::string>;

  static ServerController* From(google::protobuf::RpcController* c) { return static_cast<ServerController*>(c); }

  // The call's deadline (Clock::time_point::max() when the client sent none).
  Clock::time_point deadline() const { return deadline_; }
  // Time left before the deadline; zero once it passed; max() when there is none.
  std::chrono::microseconds remaining() const;
  // Request metadata sent by the client (keys lowercase; "-bin" keys hold binary values).
  const Metadata& metadata() const { return *metadata_; }
  // A metadata value, or empty when absent.
  std::string_view metadata(std::string_view key) const;
  // "/package.Service/Method".
  const std::string& method() const { return *method_; }
  // The client's address, "ip:port".
  const std::string& peer() const { return *peer_; }
  // The caller's verified identity from its TLS client certificate (its SANs and subject);
  // unauthenticated over plaintext or when the client sent no certificate.
  const PeerIdentity& peer_identity() const { return *identity_; }

  // Response metadata, sent back with the reply over either protocol (gRPC: response
  // headers). Keys must be lowercase; a "-bin" key may hold binary bytes. Set it before `done`.
  void SetResponseMetadata(std::string key, std::string value) { response_metadata_[std::move(key)] = std::move(value); }
  const Metadata& response_metadata() const { return response_metadata_; }
  // Trailing metadata, sent with the call's status (gRPC: in the trailers; krpc: with the
  // response metadata, which its reply carries at the end anyway). Set it before the call ends.
  void SetTrailingMetadata(std::string key, std::string value) { trailing_metadata_[std::move(key)] = std::move(value); }
  const Metadata& trailing_metadata() const { return trailing_metadata_; }

  // Fails the call with a canonical code. The response message is not sent.
  void SetStatus(StatusCode code, std::string message);
  const Status& status() const { return status_; }

  // RpcController, server side. SetFailed() fails the call with UNKNOWN, as gRPC does.
  void SetFailed(const std::string& reason) override { SetStatus(StatusCode::kUnknown, reason); }
  // Thread-safe: the client may cancel (CANCEL frame, closed connection) while the handler
  // runs on another thread. The callback of NotifyOnCancel runs once, on the thread that
  // cancels (an I/O thread) or at once if the call is already cancelled.
  bool IsCanceled() const override { return canceled_.load(std::memory_order_acquire); }
  void NotifyOnCancel(google::protobuf::Closure* callback) override;

  // RpcController, client side: meaningless on a server; they report the server status.
  void Reset() override {}
  bool Failed() const override { return !status_.ok(); }
  std::string ErrorText() const override { return status_.message(); }
  void StartCancel() override {}

 protected:
  ServerController() = default;
  ~ServerController() override;
  // Called on the connection's thread when the client cancels or goes away.
  void MarkCanceled();
  // Saturating: a timeout too large to add to `arrival` means no deadline.
  void SetDeadline(Clock::time_point arrival, uint64_t timeout_us);

  Clock::time_point deadline_ = Clock::time_point::max();
  const Metadata* metadata_ = nullptr;
  const std::string* method_ = nullptr;
  const std::string* peer_ = nullptr;
  const PeerIdentity* identity_ = nullptr;
  Status status_;
  Metadata response_metadata_;
  Metadata trailing_metadata_;
  std::atomic<bool> canceled_{false};
  std::mutex cancel_mu_;  // guards on_cancel_ (set by the handler, run by the canceller)
  google::protobuf::Closure* on_cancel_ = nullptr;
};

}  // namespace krpc
