// The gRPC C++ library (Debian's libgrpc++, a test-only dependency) as a client of a krpc
// server: unary calls through grpc::internal::BlockingUnaryCall (what generated gRPC stubs
// call), over a real socket, with the krpc protocol served on the same port at the same time.
#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/codegen/client_unary_call.h>
#include <grpcpp/impl/codegen/proto_utils.h>
#include <gtest/gtest.h>

#include <thread>

#include "examples/echo.pb.h"
#include "krpc/channel.h"
#include "krpc/controller.h"
#include "krpc/health.pb.h"
#include "krpc/server.h"
#include "test_services.h"

namespace krpc {
namespace {
using examples::EchoRequest;
using examples::EchoResponse;

class GrpcCppClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerOptions o;
    o.listen_host = "127.0.0.1";
    o.io_threads = 2;
    o.max_body_bytes = 1 << 20;
    server_ = std::make_unique<Server>(o);
    ASSERT_TRUE(server_->AddService(&echo_).ok());
    ASSERT_TRUE(server_->Start().ok());
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->port()), grpc::InsecureChannelCredentials());
  }
  void TearDown() override { server_->Shutdown(std::chrono::milliseconds(2000)); }

  template <typename Req, typename Resp>
  grpc::Status Call(const std::string& path, grpc::ClientContext* ctx, const Req& req, Resp* resp) {
    grpc::internal::RpcMethod method(path.c_str(), grpc::internal::RpcMethod::NORMAL_RPC, channel_);
    return grpc::internal::BlockingUnaryCall<Req, Resp>(channel_.get(), method, ctx, req, resp);
  }
  grpc::Status Echo(grpc::ClientContext* ctx, const std::string& payload, EchoResponse* resp) {
    EchoRequest req;
    req.set_payload(payload);
    return Call("/krpc.examples.EchoService/Echo", ctx, req, resp);
  }

  testing::ScriptedEcho echo_;
  std::unique_ptr<Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(GrpcCppClientTest, echo_round_trips_payloads_up_to_the_body_limit) {
  for (size_t size : {size_t{0}, size_t{1}, size_t{100}, size_t{70000}, size_t{(1 << 20) - 16}}) {
    grpc::ClientContext ctx;
    EchoResponse resp;
    const std::string payload(size, static_cast<char>('a' + size % 26));
    const auto st = Echo(&ctx, payload, &resp);
    ASSERT_TRUE(st.ok()) << size << ": " << st.error_message();
    EXPECT_EQ(resp.payload(), payload);
  }
}

TEST_F(GrpcCppClientTest, metadata_reaches_the_handler_and_the_deadline_is_propagated) {
  {
    grpc::ClientContext ctx;
    ctx.AddMetadata("report", "metadata");
    ctx.AddMetadata("x-value", "from grpc++");
    EchoResponse resp;
    ASSERT_TRUE(Echo(&ctx, "", &resp).ok());
    EXPECT_EQ(resp.payload(), "from grpc++");
  }
  grpc::ClientContext ctx;
  ctx.AddMetadata("report", "deadline");
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  EchoResponse resp;
  ASSERT_TRUE(Echo(&ctx, "", &resp).ok());
  const long remaining_us = std::stol(resp.payload());
  EXPECT_GT(remaining_us, 0);
  EXPECT_LE(remaining_us, 31'000'000);  // gRPC rounds the timeout it sends up (to a few digits)
}

TEST_F(GrpcCppClientTest, handler_status_codes_and_messages_reach_the_client) {
  for (auto [name, code] : {std::pair{"NOT_FOUND", grpc::StatusCode::NOT_FOUND},
                            std::pair{"PERMISSION_DENIED", grpc::StatusCode::PERMISSION_DENIED},
                            std::pair{"UNAVAILABLE", grpc::StatusCode::UNAVAILABLE},
                            std::pair{"DATA_LOSS", grpc::StatusCode::DATA_LOSS}}) {
    grpc::ClientContext ctx;
    ctx.AddMetadata("fail-code", name);
    EchoResponse resp;
    const auto st = Echo(&ctx, "x", &resp);
    EXPECT_EQ(st.error_code(), code) << name << ": " << st.error_message();
  }
}

TEST_F(GrpcCppClientTest, an_expired_deadline_cancels_the_handler) {
  grpc::ClientContext ctx;
  ctx.AddMetadata("report", "canceled");
  ctx.AddMetadata("delay-ms", "3000");
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(200));
  EchoResponse resp;
  EXPECT_EQ(Echo(&ctx, "", &resp).error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  // The client resets the stream; the handler sees the cancellation (waited on, not slept).
  for (int i = 0; i < 2000 && echo_.canceled.load() == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(echo_.canceled.load(), 1);
}

TEST_F(GrpcCppClientTest, unknown_methods_oversize_requests_and_the_health_check) {
  grpc::ClientContext c1;
  EchoResponse resp;
  EchoRequest req;
  EXPECT_EQ(Call("/krpc.examples.EchoService/Missing", &c1, req, &resp).error_code(), grpc::StatusCode::UNIMPLEMENTED);
  grpc::ClientContext c2;
  EXPECT_EQ(Echo(&c2, std::string(2 << 20, 'x'), &resp).error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  grpc::ClientContext c3;
  health::v1::HealthCheckRequest hreq;
  health::v1::HealthCheckResponse hresp;
  ASSERT_TRUE(Call("/grpc.health.v1.Health/Check", &c3, hreq, &hresp).ok());
  EXPECT_EQ(hresp.status(), health::v1::HealthCheckResponse::SERVING);
}

TEST_F(GrpcCppClientTest, krpc_and_grpc_clients_share_the_port_concurrently) {
  auto krpc_channel = Channel::Create("127.0.0.1:" + std::to_string(server_->port()), ChannelOptions{});
  ASSERT_TRUE(krpc_channel.ok()) << krpc_channel.status().ToString();
  std::atomic<int> krpc_ok{0}, grpc_ok{0};
  std::thread krpc_thread([&] {
    examples::EchoService_Stub stub(krpc_channel.value().get());
    for (int i = 0; i < 500; ++i) {
      Controller cntl;
      EchoRequest req;
      EchoResponse resp;
      req.set_payload("krpc " + std::to_string(i));
      stub.Echo(&cntl, &req, &resp, nullptr);
      if (cntl.status().ok() && resp.payload() == req.payload()) krpc_ok.fetch_add(1);
    }
  });
  std::vector<std::thread> grpc_threads;
  for (int t = 0; t < 4; ++t) {
    grpc_threads.emplace_back([&, t] {
      for (int i = 0; i < 250; ++i) {
        grpc::ClientContext ctx;
        EchoResponse resp;
        const std::string p = "grpc " + std::to_string(t) + "/" + std::to_string(i);
        if (Echo(&ctx, p, &resp).ok() && resp.payload() == p) grpc_ok.fetch_add(1);
      }
    });
  }
  krpc_thread.join();
  for (auto& t : grpc_threads) t.join();
  EXPECT_EQ(krpc_ok.load(), 500);
  EXPECT_EQ(grpc_ok.load(), 1000);
}

// The SDK's own gRPC transport against the krpc server's gRPC side (both ours, each already
// tested against gRPC's C++ library): deadline and metadata arrive, codes come back.
TEST_F(GrpcCppClientTest, the_krpc_sdk_speaks_grpc_to_a_krpc_server_too) {
  ChannelOptions o;
  o.connection.protocol = WireProtocol::kGrpc;
  auto ch = Channel::Create("127.0.0.1:" + std::to_string(server_->port()), o);
  ASSERT_TRUE(ch.ok()) << ch.status();
  examples::EchoService_Stub stub(ch.value().get());
  for (const char* report : {"deadline", "metadata"}) {
    Controller cntl;
    cntl.set_timeout(std::chrono::seconds(20));
    cntl.AddMetadata("report", report);
    cntl.AddMetadata("x-value", "over h2");
    EchoRequest req;
    EchoResponse resp;
    stub.Echo(&cntl, &req, &resp, nullptr);
    ASSERT_TRUE(cntl.status().ok()) << cntl.status();
    if (std::string(report) == "metadata") {
      EXPECT_EQ(resp.payload(), "over h2");
    } else {
      EXPECT_GT(std::stol(resp.payload()), 0);
      EXPECT_LE(std::stol(resp.payload()), 20'000'000);
    }
  }
  Controller cntl;
  cntl.AddMetadata("fail-code", "ABORTED");
  EchoRequest req;
  EchoResponse resp;
  stub.Echo(&cntl, &req, &resp, nullptr);
  EXPECT_EQ(cntl.code(), StatusCode::kAborted);
}

}  // namespace
}  // namespace krpc
