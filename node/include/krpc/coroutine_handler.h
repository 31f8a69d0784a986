// How a coroutine handler (the server base classes protoc-gen-krpc generates) runs a call:
//
//   class GreeterImpl : public greet::GreeterBase {
//     krpc::Task<krpc::Status> SayHello(krpc::ServerController& ctx, const HelloRequest& req,
//                                       HelloReply& reply) override {
//       krpc::Controller down;                       // a downstream call, within our deadline
//       down.set_deadline(ctx.deadline());
//       auto r = co_await users_.Get(down, ...);
//       if (!r.ok()) co_return r.status();
//       reply.set_text("hello " + r->name());
//       co_return krpc::Status::Ok();
//     }
//   };
//
// The handler starts on the thread that received the call (an I/O thread, or a handler
// thread with handler_threads > 0) and the response is sent when its Task finishes, from the
// thread it finished on. A non-OK Status fails the call with that code and message (the
// response is not sent); an exception escaping the handler fails it with INTERNAL.
// ctx.IsCanceled() / ctx.NotifyOnCancel() tell it the client cancelled or went away.
#pragma once

#include <google/protobuf/service.h>

#include <exception>
#include <string>

#include "krpc/server_controller.h"
#include "krpc/status.h"
#include "krpc/task.h"

namespace krpc::impl {

// The status of a call whose handler threw `e`: INTERNAL, naming it.
inline Status HandlerThrew(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    return Status(StatusCode::kInternal, std::string("handler threw: ") + x.what());
  } catch (...) {
    return Status(StatusCode::kInternal, "handler threw a non-standard exception");
  }
}

inline Detached RunHandler(Task<Status> handler, ServerController* ctx, google::protobuf::Closure* done) {
  Status status;
  try {
    status = co_await std::move(handler);
  } catch (...) {
    status = HandlerThrew(std::current_exception());
  }
  if (!status.ok()) ctx->SetStatus(status.code(), status.message());
  done->Run();
}

}  // namespace krpc::impl
