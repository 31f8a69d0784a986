// Controller: the per-call context on the client (deadline, metadata, status), passed as the
// `controller` of generated stub methods. One controller serves one call at a time; Reset()
// it to reuse it.
//
// \warning The controller, request and response must stay alive until the call completes
// (the `done` closure runs, or the blocking call returns).
#pragma once

#include <google/protobuf/service.h>

#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "krpc/status.h"

namespace krpc {
namespace impl {
struct CallData;
}

class Controller : public google::protobuf::RpcController {
 public:
  using Clock = std::chrono::steady_clock;

  Controller();
  ~Controller() override;
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  // The whole call (all attempts) must finish within `timeout` of its start. Default: the
  // channel's timeout_ms. Zero or negative: no deadline.
  void set_timeout(std::chrono::milliseconds timeout);
  // An absolute deadline; overrides set_timeout().
  void set_deadline(Clock::time_point deadline);
  // Request metadata; keys are lowercased; a key ending in "-bin" may hold binary bytes.
  void AddMetadata(std::string key, std::string value);
  // Key for consistent-hash load balancing (e.g. a user id).
  void set_request_key(uint64_t key);
  // Marks the call safe to retry even after the server may have run it, and to hedge.
  void set_idempotent(bool idempotent);
  // One attempt's deadline; when it passes, the attempt is cancelled and an idempotent call
  // is retried elsewhere within the call's deadline. Default: the channel's per-try timeout
  // (per method, or per_try_timeout_ms). Zero: the call's deadline only.
  void set_per_try_timeout(std::chrono::milliseconds timeout);

  // Result of the finished call.
  const Status& status() const;
  StatusCode code() const { return status().code(); }
  // Wall time from the start of the call to its completion.
  std::chrono::microseconds latency() const;
  // "host:port" of the endpoint that produced the final result (empty if none was reached).
  const std::string& remote() const;
  // Response metadata the handler set (ServerController::SetResponseMetadata; gRPC response
  // headers and trailers other than the protocol's own), in arrival order.
  const std::vector<std::pair<std::string, std::string>>& response_metadata() const;
  // Attempts made (1 + retries + hedges).
  int attempts() const;
  // Hedged attempts made, and whether the answer came from one.
  int hedges() const;
  bool hedge_won() const;

  // google::protobuf::RpcController
  void Reset() override;
  bool Failed() const override { return !status().ok(); }
  std::string ErrorText() const override { return status().ToString(); }
  // Cancels the call: it completes with CANCELLED and the server is told.
  void StartCancel() override;
  void SetFailed(const std::string& reason) override;
  bool IsCanceled() const override;
  void NotifyOnCancel(google::protobuf::Closure* callback) override;

 private:
  friend class Channel;  // runs the call on the controller's call data
  impl::CallData& data() { return *d_; }
  std::unique_ptr<impl::CallData> d_;
};

}  // namespace krpc
