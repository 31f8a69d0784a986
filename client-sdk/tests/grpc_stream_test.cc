// The SDK's client streams against a server built with gRPC's own C++ library (Debian's
// libgrpc++, test-only): gRPC's interop TestService streaming methods written with gRPC's sync
// API, so every kind of stream is checked against an implementation no one here wrote, both
// with the generic ClientStream and the coroutine client protoc-gen-krpc generates.
#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/codegen/proto_utils.h>
#include <grpcpp/support/method_handler.h>
#include <gtest/gtest.h>

#include <future>
#include <optional>
#include <vector>

#include "grpc/testing/test.krpc.h"
#include "krpc/channel.h"
#include "krpc/client_runtime.h"
#include "krpc/client_stream.h"
#include "krpc/task.h"

namespace krpc {
namespace {
using namespace std::chrono_literals;
namespace gt = ::grpc::testing;

gt::StreamingOutputCallResponse Sized(int n) {
  gt::StreamingOutputCallResponse r;
  r.mutable_payload()->mutable_body()->assign(static_cast<size_t>(n), 'g');
  return r;
}

// The streaming methods of grpc.testing.TestService, registered as gRPC's generated code does.
class GrpcTestService final : public ::grpc::Service {
 public:
  GrpcTestService() {
    using ::grpc::internal::RpcMethod;
    using ::grpc::internal::RpcServiceMethod;
    AddMethod(new RpcServiceMethod(
        "/grpc.testing.TestService/StreamingOutputCall", RpcMethod::SERVER_STREAMING,
        new ::grpc::internal::ServerStreamingHandler<GrpcTestService, gt::StreamingOutputCallRequest,
                                                      gt::StreamingOutputCallResponse>(
            [](GrpcTestService*, ::grpc::ServerContext*, const gt::StreamingOutputCallRequest* req,
               ::grpc::ServerWriter<gt::StreamingOutputCallResponse>* out) {
              for (const auto& p : req->response_parameters()) {
                if (!out->Write(Sized(p.size()))) return ::grpc::Status::CANCELLED;
              }
              return ::grpc::Status::OK;
            },
            this)));
    AddMethod(new RpcServiceMethod(
        "/grpc.testing.TestService/StreamingInputCall", RpcMethod::CLIENT_STREAMING,
        new ::grpc::internal::ClientStreamingHandler<GrpcTestService, gt::StreamingInputCallRequest,
                                                      gt::StreamingInputCallResponse>(
            [](GrpcTestService*, ::grpc::ServerContext*, ::grpc::ServerReader<gt::StreamingInputCallRequest>* in,
               gt::StreamingInputCallResponse* resp) {
              gt::StreamingInputCallRequest m;
              int total = 0;
              while (in->Read(&m)) total += static_cast<int>(m.payload().body().size());
              resp->set_aggregated_payload_size(total);
              return ::grpc::Status::OK;
            },
            this)));
    AddMethod(new RpcServiceMethod(
        "/grpc.testing.TestService/FullDuplexCall", RpcMethod::BIDI_STREAMING,
        new ::grpc::internal::BidiStreamingHandler<GrpcTestService, gt::StreamingOutputCallRequest,
                                                    gt::StreamingOutputCallResponse>(
            [](GrpcTestService*, ::grpc::ServerContext*,
               ::grpc::ServerReaderWriter<gt::StreamingOutputCallResponse, gt::StreamingOutputCallRequest>* io) {
              gt::StreamingOutputCallRequest m;
              while (io->Read(&m)) {
                if (m.response_status().code() != 0) {
                  return ::grpc::Status(static_cast<::grpc::StatusCode>(m.response_status().code()),
                                        m.response_status().message());
                }
                for (const auto& p : m.response_parameters()) io->Write(Sized(p.size()));
              }
              return ::grpc::Status::OK;
            },
            this)));
  }
};

class GrpcStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::grpc::ServerBuilder b;
    b.AddListeningPort("127.0.0.1:0", ::grpc::InsecureServerCredentials(), &port_);
    b.RegisterService(&service_);
    server_ = b.BuildAndStart();
    ASSERT_TRUE(server_ && port_ > 0);
    ChannelOptions o;
    o.connection.protocol = WireProtocol::kGrpc;
    auto ch = Channel::Create("127.0.0.1:" + std::to_string(port_), o, runtime_);
    ASSERT_TRUE(ch.ok()) << ch.status();
    channel_ = ch.value();
    client_ = std::make_unique<gt::TestServiceClient>(channel_);
  }
  void TearDown() override { server_->Shutdown(std::chrono::system_clock::now()); }

  GrpcTestService service_;
  std::unique_ptr<::grpc::Server> server_;
  int port_ = 0;
  std::shared_ptr<ClientRuntime> runtime_ = ClientRuntime::Create(1);
  std::shared_ptr<Channel> channel_;
  std::unique_ptr<gt::TestServiceClient> client_;
};

TEST_F(GrpcStreamTest, server_client_and_bidi_streams_against_grpc_cpp) {
  auto server_streaming = [&]() -> Task<std::vector<int>> {
    Controller ctx;
    auto call = client_->StreamingOutputCall(ctx);
    gt::StreamingOutputCallRequest req;
    const std::vector<int> sizes{31415, 9, 2653, 58979, 2 << 20};
    for (int s : sizes) req.add_response_parameters()->set_size(s);
    co_await call.Write(req);
    co_await call.WritesDone();
    std::vector<int> got;
    while (std::optional<gt::StreamingOutputCallResponse> r = co_await call.Read()) {
      got.push_back(static_cast<int>(r->payload().body().size()));
    }
    Status st = co_await call.Finish();
    EXPECT_TRUE(st.ok()) << st;
    co_return got;
  };
  EXPECT_EQ(SyncWait(server_streaming()), (std::vector<int>{31415, 9, 2653, 58979, 2 << 20}));

  auto client_streaming = [&]() -> Task<int> {
    Controller ctx;
    auto call = client_->StreamingInputCall(ctx);
    const std::vector<int> sizes{27182, 8, 1828, 45904, 3 << 20};
    for (int n : sizes) {
      gt::StreamingInputCallRequest r;
      r.mutable_payload()->mutable_body()->assign(static_cast<size_t>(n), 'x');
      co_await call.Write(r);
    }
    co_await call.WritesDone();
    std::optional<gt::StreamingInputCallResponse> r = co_await call.Read();
    Status st = co_await call.Finish();
    EXPECT_TRUE(st.ok()) << st;
    co_return r ? r->aggregated_payload_size() : -1;
  };
  EXPECT_EQ(SyncWait(client_streaming()), 27182 + 8 + 1828 + 45904 + (3 << 20));

  auto ping_pong = [&]() -> Task<std::vector<int>> {
    Controller ctx;
    auto call = client_->FullDuplexCall(ctx);
    std::vector<int> got;
    const std::vector<int> sizes{1, 10, 100, 1000};
    for (int size : sizes) {
      gt::StreamingOutputCallRequest req;
      req.add_response_parameters()->set_size(size);
      const bool sent = co_await call.Write(req);
      if (!sent) break;
      std::optional<gt::StreamingOutputCallResponse> r = co_await call.Read();
      if (!r) break;
      got.push_back(static_cast<int>(r->payload().body().size()));
    }
    co_await call.WritesDone();
    Status st = co_await call.Finish();
    EXPECT_TRUE(st.ok()) << st;
    co_return got;
  };
  EXPECT_EQ(SyncWait(ping_pong()), (std::vector<int>{1, 10, 100, 1000}));
}

TEST_F(GrpcStreamTest, a_status_from_grpc_cpp_ends_the_generic_stream) {
  Controller ctx;
  auto s = channel_->OpenStream(gt::TestServiceClient::descriptor()->FindMethodByName("FullDuplexCall"), &ctx);
  gt::StreamingOutputCallRequest req;
  req.mutable_response_status()->set_code(static_cast<int>(StatusCode::kOutOfRange));
  req.mutable_response_status()->set_message("out of range");
  s->Write(req, [](bool) {});
  std::promise<Status> done;
  s->Finish([&](const Status& st) { done.set_value(st); });
  const Status st = done.get_future().get();
  EXPECT_EQ(st.code(), StatusCode::kOutOfRange);
  EXPECT_EQ(st.message(), "out of range");
}

}  // namespace
}  // namespace krpc
