// Coroutine streams on the server, the shapes protoc-gen-krpc's service bases use:
//
//   // bidi: rpc Chat(stream Req) returns (stream Resp)
//   krpc::Task<krpc::Status> Chat(krpc::ServerController& ctx, krpc::Reader<Req>& in,
//                                 krpc::Writer<Resp>& out) override {
//     while (std::optional<Req> m = co_await in.Read()) {
//       const bool written = co_await out.Write(Reply(*m));
//       if (!written) break;                           // false: the call ended
//     }
//     co_return krpc::Status::Ok();
//   }
//   // server streaming: rpc List(Req) returns (stream Resp)
//   krpc::Task<krpc::Status> List(krpc::ServerController&, const Req&, krpc::Writer<Resp>&);
//   // client streaming: rpc Upload(stream Req) returns (Resp)
//   krpc::Task<krpc::Status> Upload(krpc::ServerController&, krpc::Reader<Req>&, Resp&);
//
// `co_await in.Read()` is the client's next message, or nullopt once it half-closed (or the
// call ended: ctx.IsCanceled() tells which). `co_await out.Write(m)` resumes once the stream
// can take more (flow control: a client that reads slowly slows the handler); false when the
// call ended. The Status the handler returns ends the call (trailers); an exception escaping
// it ends the call INTERNAL. Reads and writes resume the handler on the connection's I/O
// thread: keep blocking work off it. One Read and one Write outstanding at a time.
//
// GCC 12 miscompiles a co_await inside an if statement's condition (`if (!co_await w.Write(m))
// co_return ...;` never runs the coroutine's body): assign the result first, as above.
#pragma once

#include <google/protobuf/message.h>

#include <coroutine>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "krpc/coroutine_handler.h"
#include "krpc/server_stream.h"
#include "krpc/status.h"
#include "krpc/task.h"

namespace krpc {

template <typename T>
class Reader {
 public:
  explicit Reader(std::shared_ptr<ServerStream> stream) : stream_(std::move(stream)) {}

  struct Awaiter {
    ServerStream* stream;
    std::optional<T> value;
    bool ok = false;
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> h) {
      value.emplace();
      stream->Read(&*value, [this, h](bool read) {  // posted: never inside Read itself
        ok = read;
        h.resume();
      });
    }
    std::optional<T> await_resume() {
      if (!ok) return std::nullopt;
      return std::move(value);
    }
  };
  // co_await -> std::optional<T>
  Awaiter Read() { return Awaiter{stream_.get(), std::nullopt}; }

 private:
  std::shared_ptr<ServerStream> stream_;
};

template <typename T>
class Writer {
 public:
  explicit Writer(std::shared_ptr<ServerStream> stream) : stream_(std::move(stream)) {}

  struct Awaiter {
    ServerStream* stream;
    const T& message;
    bool ok = false;
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> h) {
      stream->Write(message, [this, h](bool written) {
        ok = written;
        h.resume();
      });
    }
    bool await_resume() const noexcept { return ok; }
  };
  // co_await -> bool (false: the call ended, the message was not sent)
  Awaiter Write(const T& message) { return Awaiter{stream_.get(), message}; }

 private:
  std::shared_ptr<ServerStream> stream_;
};

namespace impl {

// Awaits the handler's task, then ends the call with its Status: INTERNAL for an exception that escaped it; with `response` (client
// streaming) written first when the Status is OK. `keep` holds what the task refers to.
inline Detached FinishWith(Task<Status> handler, std::shared_ptr<ServerStream> stream, std::shared_ptr<void> keep,
                           const google::protobuf::Message* response) {
  Status status;
  try {
    status = co_await std::move(handler);
  } catch (...) {
    status = HandlerThrew(std::current_exception());
  }
  if (status.ok() && response != nullptr) {
    ServerStream* s = stream.get();
    s->Write(*response, [stream = std::move(stream), keep = std::move(keep)](bool) { stream->Finish(Status::Ok()); });
  } else {
    stream->Finish(std::move(status));
  }
}

template <typename Req, typename Resp>
struct StreamEnds {
  explicit StreamEnds(const std::shared_ptr<ServerStream>& s) : in(s), out(s) {}
  Reader<Req> in;
  Writer<Resp> out;
  Req request;    // server streaming: the one request
  Resp response;  // client streaming: the one response
};

template <typename Req, typename Resp, typename Fn>
void RunBidiStream(std::shared_ptr<ServerStream> stream, Fn fn) {
  auto ends = std::make_shared<StreamEnds<Req, Resp>>(stream);
  FinishWith(fn(stream->controller(), ends->in, ends->out), stream, ends, nullptr);
}

template <typename Req, typename Resp, typename Fn>
void RunServerStream(std::shared_ptr<ServerStream> stream, Fn fn) {
  auto ends = std::make_shared<StreamEnds<Req, Resp>>(stream);
  ServerStream* s = stream.get();
  s->Read(&ends->request, [stream = std::move(stream), ends, fn = std::move(fn)](bool ok) mutable {
    if (!ok) return stream->Finish(Status(StatusCode::kInternal, "the client sent no request message"));
    FinishWith(fn(stream->controller(), ends->request, ends->out), stream, ends, nullptr);
  });
}

template <typename Req, typename Resp, typename Fn>
void RunClientStream(std::shared_ptr<ServerStream> stream, Fn fn) {
  auto ends = std::make_shared<StreamEnds<Req, Resp>>(stream);
  FinishWith(fn(stream->controller(), ends->in, ends->response), stream, ends, &ends->response);
}

}  // namespace impl
}  // namespace krpc
