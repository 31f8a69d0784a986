// Echo as a gRPC C++ service (gRPC's own library, Debian's libgrpc++), for the tests of the
// SDK's gRPC transport: in-process (grpc_server_test) and as a process of its own
// (grpc_echo_server, killed with SIGKILL by the tests).
#pragma once

#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/codegen/method_handler.h>
#include <grpcpp/impl/codegen/proto_utils.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "examples/echo.pb.h"

namespace krpc::testing {
using examples::EchoRequest;
using examples::EchoResponse;

// Echo as a gRPC C++ service, written the way generated gRPC code registers methods.
// Metadata steers it: "sleep-ms" delays, "fail-code" (a number) fails, "x-value" is echoed back
// as the payload when the request asks for "metadata".
class GrpcEcho final : public grpc::Service {
 public:
  GrpcEcho() {
    AddMethod(new grpc::internal::RpcServiceMethod(
        "/krpc.examples.EchoService/Echo", grpc::internal::RpcMethod::NORMAL_RPC,
        new grpc::internal::RpcMethodHandler<GrpcEcho, EchoRequest, EchoResponse>(
            [](GrpcEcho* self, grpc::ServerContext* ctx, const EchoRequest* req, EchoResponse* resp) {
              return self->Echo(ctx, req, resp);
            },
            this)));
  }
  std::atomic<int> calls{0};

 private:
  grpc::Status Echo(grpc::ServerContext* ctx, const EchoRequest* req, EchoResponse* resp) {
    calls.fetch_add(1);
    const auto& md = ctx->client_metadata();
    auto get = [&](const char* k) -> std::string {
      auto it = md.find(k);
      return it == md.end() ? "" : std::string(it->second.data(), it->second.size());
    };
    if (auto ms = get("sleep-ms"); !ms.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(std::stoi(ms)));
    if (auto code = get("fail-code"); !code.empty()) {
      return grpc::Status(static_cast<grpc::StatusCode>(std::stoi(code)), "failed on request");
    }
    resp->set_payload(req->payload() == "metadata" ? get("x-value") : req->payload());
    return grpc::Status::OK;
  }
};

}  // namespace krpc::testing
