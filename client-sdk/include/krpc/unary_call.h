// UnaryCall<Response>: one RPC as an awaitable, what the typed stubs of protoc-gen-krpc return.
//
//   krpc::Controller ctx;                         // deadline, metadata, cancel: as with Stub
//   ctx.set_timeout(200ms);
//   krpc::StatusOr<EchoResponse> r = co_await client.Echo(ctx, request);
//   if (!r.ok()) { ... r.status() ... }
//
// The call starts when awaited and goes through the channel's whole path (discovery, load
// balancing, breakers, retries, hedging, deadlines, metrics), exactly like a generic stub call.
// The awaiting coroutine resumes on the client I/O thread that completed the call, or at once
// on the awaiting thread if the call ended before it was sent. ctx.StartCancel() from any
// thread ends the call with CANCELLED and tells the server (a CANCEL frame).
// The request (and `ctx`) must stay alive until the co_await returns; await the call in the
// same expression that makes it, as above.
#pragma once

#include <google/protobuf/service.h>

#include <atomic>
#include <coroutine>
#include <optional>

#include "krpc/controller.h"
#include "krpc/status.h"

namespace krpc {

template <typename Response>
class [[nodiscard]] UnaryCall {
 public:
  UnaryCall(google::protobuf::RpcChannel* channel, const google::protobuf::MethodDescriptor* method,
            Controller& ctx, const google::protobuf::Message& request)
      : channel_(channel), method_(method), ctx_(&ctx), request_(&request) {}
  // With a controller of its own: the channel's defaults (timeout, per-try timeout, ...).
  UnaryCall(google::protobuf::RpcChannel* channel, const google::protobuf::MethodDescriptor* method,
            const google::protobuf::Message& request)
      : channel_(channel), method_(method), request_(&request) {
    ctx_ = &own_ctx_.emplace();
  }
  UnaryCall(const UnaryCall&) = delete;
  UnaryCall& operator=(const UnaryCall&) = delete;

  bool await_ready() const noexcept { return false; }
  bool await_suspend(std::coroutine_handle<> awaiting) {
    awaiting_ = awaiting;
    channel_->CallMethod(method_, ctx_, request_, &response_, &done_);
    // Whoever comes second (this, or the completion) resumes the coroutine.
    return !done_.arrived.exchange(true, std::memory_order_acq_rel);
  }
  StatusOr<Response> await_resume() {
    if (!ctx_->status().ok()) return ctx_->status();
    return std::move(response_);
  }

 private:
  struct Done final : google::protobuf::Closure {
    explicit Done(UnaryCall* call) : call(call) {}
    void Run() override {
      // Nothing of this object may be touched after resume(): the coroutine may end the call.
      if (arrived.exchange(true, std::memory_order_acq_rel)) call->awaiting_.resume();
    }
    UnaryCall* call;
    std::atomic<bool> arrived{false};
  };

  google::protobuf::RpcChannel* channel_;
  const google::protobuf::MethodDescriptor* method_;
  Controller* ctx_ = nullptr;
  const google::protobuf::Message* request_;
  std::optional<Controller> own_ctx_;
  Response response_;
  std::coroutine_handle<> awaiting_;
  Done done_{this};
};

}  // namespace krpc
