// AsyncCall: one Echo call started with a callback, for tests that keep many in flight; the
// future gives its status.
#pragma once

#include <chrono>
#include <future>

#include "examples/echo.pb.h"
#include "krpc/channel.h"

namespace krpc::testing {

struct AsyncCall {
  Controller cntl;
  examples::EchoRequest req;
  examples::EchoResponse resp;
  std::future<Status> status;
  // `timeout`: the call's deadline (zero: the channel's default).
  void Start(Channel* ch, std::chrono::milliseconds timeout = std::chrono::milliseconds(0)) {
    if (timeout.count() > 0) cntl.set_timeout(timeout);
    examples::EchoService_Stub stub(ch);
    status = CallFuture(&cntl, [&](google::protobuf::Closure* d) { stub.Echo(&cntl, &req, &resp, d); });
  }
  Status Get() {
    // A hang guard, not a timing assertion: the status is what the test checks.
    if (status.wait_for(std::chrono::seconds(120)) != std::future_status::ready) {
      return Status(StatusCode::kUnknown, "call never completed");
    }
    return status.get();
  }
};

}  // namespace krpc::testing
