// grpc.testing.TestService, gRPC's interoperability test service, with coroutine handlers
// (the base protoc-gen-krpc generates): what stock gRPC interop clients expect of a server,
// and the node's example of every kind of stream. Behaviour follows gRPC's
// doc/interop-test-descriptions.md: payloads of the sizes asked for (zero bytes), the
// response_status asked for, metadata echoed from x-grpc-test-echo-initial (response
// headers) and x-grpc-test-echo-trailing-bin (trailers), interval_us waited on a timer thread
// of its own (never on an I/O thread).
#pragma once

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <thread>

#include "grpc/testing/test.krpc.h"

namespace krpc::examples {

class InteropServiceImpl final : public grpc::testing::TestServiceBase {
 public:
  InteropServiceImpl();
  ~InteropServiceImpl() override;

  Task<Status> EmptyCall(ServerController& ctx, const grpc::testing::Empty& request, grpc::testing::Empty& response) override;
  Task<Status> UnaryCall(ServerController& ctx, const grpc::testing::SimpleRequest& request,
                         grpc::testing::SimpleResponse& response) override;
  Task<Status> StreamingOutputCall(ServerController& ctx, const grpc::testing::StreamingOutputCallRequest& request,
                                   Writer<grpc::testing::StreamingOutputCallResponse>& response) override;
  Task<Status> StreamingInputCall(ServerController& ctx, Reader<grpc::testing::StreamingInputCallRequest>& request,
                                  grpc::testing::StreamingInputCallResponse& response) override;
  Task<Status> FullDuplexCall(ServerController& ctx, Reader<grpc::testing::StreamingOutputCallRequest>& request,
                              Writer<grpc::testing::StreamingOutputCallResponse>& response) override;
  Task<Status> HalfDuplexCall(ServerController& ctx, Reader<grpc::testing::StreamingOutputCallRequest>& request,
                              Writer<grpc::testing::StreamingOutputCallResponse>& response) override;

 private:
  // The request's responses, each after its interval; false when the call ended.
  Task<bool> Respond(const grpc::testing::StreamingOutputCallRequest& request,
                     Writer<grpc::testing::StreamingOutputCallResponse>& out);

  boost::asio::io_context timers_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::thread thread_;
};

}  // namespace krpc::examples
