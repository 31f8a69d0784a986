// Coroutine streams on the client, what protoc-gen-krpc's typed clients return for a
// streaming method:
//
//   krpc::Controller ctx;                              // outlives the call
//   auto call = client.Chat(ctx);                      // krpc::StreamCall<Req, Resp>
//   const bool sent = co_await call.Write(req);        // false: the call ended (see Finish)
//   co_await call.WritesDone();
//   while (std::optional<Resp> r = co_await call.Read()) { ... }
//   krpc::Status s = co_await call.Finish();
//
// Every kind is driven this way (server streaming: one Write, WritesDone, then Reads; client
// streaming: Writes, WritesDone, one Read). The semantics are ClientStream's
// (krpc/client_stream.h): flow control, commit point, no hedging. The coroutine resumes on the
// stream's I/O thread. One Read and one Write outstanding at a time. GCC 12 miscompiles a
// co_await inside an if statement's condition: assign the result first, as above.
#pragma once

#include <google/protobuf/service.h>

#include <atomic>
#include <coroutine>
#include <functional>
#include <memory>
#include <optional>
#include <utility>

#include "krpc/channel.h"
#include "krpc/client_stream.h"
#include "krpc/controller.h"
#include "krpc/status.h"

namespace krpc {

namespace impl {
// A stream that could not open: the channel is not a krpc::Channel.
class RefusedStream final : public ClientStream {
 public:
  void Write(const google::protobuf::Message&, std::function<void(bool)> done) override { done(false); }
  void WritesDone(std::function<void(bool)> done) override { done(false); }
  void Read(google::protobuf::Message*, std::function<void(bool)> done) override { done(false); }
  void Finish(std::function<void(const Status&)> done) override {
    done(Status(StatusCode::kInvalidArgument, "streams need a krpc::Channel"));
  }
  void Cancel() override {}
};

// Suspends until `start` reports; resumes at once when it reported synchronously.
template <typename T>
struct CallbackAwaiter {
  struct State {
    T value{};
    std::atomic<bool> raced{false};
  };
  std::function<void(std::function<void(T)>)> start;
  std::shared_ptr<State> state = std::make_shared<State>();
  bool await_ready() const noexcept { return false; }
  bool await_suspend(std::coroutine_handle<> h) {
    start([st = state, h](T v) {
      st->value = std::move(v);
      if (st->raced.exchange(true, std::memory_order_acq_rel)) h.resume();  // await_suspend returned
    });
    return !state->raced.exchange(true, std::memory_order_acq_rel);  // false: it already reported
  }
  T await_resume() { return std::move(state->value); }
};
}  // namespace impl

template <typename Req, typename Resp>
class StreamCall {
 public:
  StreamCall(google::protobuf::RpcChannel* channel, const google::protobuf::MethodDescriptor* method, Controller& ctx) {
    if (auto* c = dynamic_cast<Channel*>(channel)) {
      stream_ = c->OpenStream(method, &ctx);
    } else {
      stream_ = std::make_shared<impl::RefusedStream>();
    }
  }

  // co_await -> bool
  impl::CallbackAwaiter<bool> Write(const Req& message) {
    return {[s = stream_, &message](std::function<void(bool)> done) { s->Write(message, std::move(done)); }};
  }
  // co_await -> bool
  impl::CallbackAwaiter<bool> WritesDone() {
    return {[s = stream_](std::function<void(bool)> done) { s->WritesDone(std::move(done)); }};
  }
  // co_await -> std::optional<Resp>: the next message, or nullopt at the end
  impl::CallbackAwaiter<std::optional<Resp>> Read() {
    return {[s = stream_](std::function<void(std::optional<Resp>)> done) {
      auto into = std::make_shared<Resp>();
      s->Read(into.get(), [into, done = std::move(done)](bool ok) {
        done(ok ? std::optional<Resp>(std::move(*into)) : std::nullopt);
      });
    }};
  }
  // co_await -> Status: once the server ended the call
  impl::CallbackAwaiter<Status> Finish() {
    return {[s = stream_](std::function<void(Status)> done) {
      s->Finish([done = std::move(done)](const Status& st) { done(st); });
    }};
  }
  void Cancel() { stream_->Cancel(); }
  ClientStream& stream() { return *stream_; }

 private:
  std::shared_ptr<ClientStream> stream_;
};

}  // namespace krpc
