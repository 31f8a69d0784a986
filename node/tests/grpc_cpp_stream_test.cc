// The gRPC C++ library (Debian's libgrpc++, test-only) as a streaming client of a krpc server
// hosting gRPC's interop TestService: the factories generated gRPC stubs call, for every kind
// of stream, with messages of up to 3 MiB, a slow reader, and cancel and deadline mid-stream.
#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/codegen/proto_utils.h>
#include <grpcpp/support/sync_stream.h>
#include <gtest/gtest.h>

#include <memory>

#include "eventually.h"
#include "grpc/testing/test.pb.h"
#include "interop_service.h"
#include "krpc/server.h"

namespace krpc {
namespace {
using namespace std::chrono_literals;
using testing::Eventually;
namespace gt = ::grpc::testing;
using ::grpc::internal::RpcMethod;

gt::StreamingOutputCallRequest Ask(std::vector<int> sizes, size_t payload = 0, int interval_us = 0) {
  gt::StreamingOutputCallRequest r;
  for (int s : sizes) {
    auto* p = r.add_response_parameters();
    p->set_size(s);
    p->set_interval_us(interval_us);
  }
  r.mutable_payload()->mutable_body()->assign(payload, 'c');
  return r;
}

class GrpcCppStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerOptions o;
    o.listen_host = "127.0.0.1";
    o.io_threads = 2;
    server_ = std::make_unique<Server>(o);
    ASSERT_TRUE(server_->AddService(&interop_).ok());
    ASSERT_TRUE(server_->Start().ok());
    ::grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(8 << 20);
    channel_ = ::grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(server_->port()),
                                           ::grpc::InsecureChannelCredentials(), args);
  }
  void TearDown() override { server_->Shutdown(2000ms); }

  RpcMethod Method(const char* name, RpcMethod::RpcType type) {
    return RpcMethod(name, type, channel_);
  }

  examples::InteropServiceImpl interop_;
  std::unique_ptr<Server> server_;
  std::shared_ptr<::grpc::Channel> channel_;
};

TEST_F(GrpcCppStreamTest, bidi_ping_pong_with_messages_up_to_3_MiB) {
  ::grpc::ClientContext ctx;
  auto method = Method("/grpc.testing.TestService/FullDuplexCall", RpcMethod::BIDI_STREAMING);
  std::unique_ptr<::grpc::ClientReaderWriter<gt::StreamingOutputCallRequest, gt::StreamingOutputCallResponse>> io(
      ::grpc::internal::ClientReaderWriterFactory<gt::StreamingOutputCallRequest, gt::StreamingOutputCallResponse>::Create(
          channel_.get(), method, &ctx));
  gt::StreamingOutputCallResponse r;
  for (int size : {1, 1000, 3 << 20, 9}) {
    ASSERT_TRUE(io->Write(Ask({size}, static_cast<size_t>(size))));
    ASSERT_TRUE(io->Read(&r));
    EXPECT_EQ(r.payload().body().size(), static_cast<size_t>(size));
  }
  io->WritesDone();
  EXPECT_FALSE(io->Read(&r));
  const auto st = io->Finish();
  EXPECT_TRUE(st.ok()) << st.error_message();
}

TEST_F(GrpcCppStreamTest, server_and_client_streaming) {
  {
    ::grpc::ClientContext ctx;
    auto method = Method("/grpc.testing.TestService/StreamingOutputCall", RpcMethod::SERVER_STREAMING);
    std::unique_ptr<::grpc::ClientReader<gt::StreamingOutputCallResponse>> in(
        ::grpc::internal::ClientReaderFactory<gt::StreamingOutputCallResponse>::Create(
            channel_.get(), method, &ctx, Ask({1 << 20, 2, 3 << 20})));
    std::vector<size_t> got;
    gt::StreamingOutputCallResponse r;
    while (in->Read(&r)) got.push_back(r.payload().body().size());
    EXPECT_TRUE(in->Finish().ok());
    EXPECT_EQ(got, (std::vector<size_t>{1 << 20, 2, 3 << 20}));
  }
  {
    ::grpc::ClientContext ctx;
    gt::StreamingInputCallResponse resp;
    auto method = Method("/grpc.testing.TestService/StreamingInputCall", RpcMethod::CLIENT_STREAMING);
    std::unique_ptr<::grpc::ClientWriter<gt::StreamingInputCallRequest>> out(
        ::grpc::internal::ClientWriterFactory<gt::StreamingInputCallRequest>::Create(channel_.get(), method, &ctx,
                                                                                     &resp));
    size_t total = 0;
    for (size_t n : {size_t{3} << 20, size_t{5}, size_t{1} << 20}) {
      gt::StreamingInputCallRequest m;
      m.mutable_payload()->mutable_body()->assign(n, 'u');
      ASSERT_TRUE(out->Write(m));
      total += n;
    }
    out->WritesDone();
    ASSERT_TRUE(out->Finish().ok());
    EXPECT_EQ(static_cast<size_t>(resp.aggregated_payload_size()), total);
  }
}

TEST_F(GrpcCppStreamTest, a_slow_reader_holds_the_node_at_its_window) {
  ::grpc::ClientContext ctx;
  auto method = Method("/grpc.testing.TestService/StreamingOutputCall", RpcMethod::SERVER_STREAMING);
  std::unique_ptr<::grpc::ClientReader<gt::StreamingOutputCallResponse>> in(
      ::grpc::internal::ClientReaderFactory<gt::StreamingOutputCallResponse>::Create(
          channel_.get(), method, &ctx, Ask(std::vector<int>(256, 1 << 20))));
  gt::StreamingOutputCallResponse r;
  ASSERT_TRUE(in->Read(&r));
  ASSERT_TRUE(Eventually([&] { return server_->stats().stream_writes_waiting == 1; }, 60s));
  EXPECT_LT(server_->stats().stream_messages_sent, 32u) << "1 MiB messages written to a reader that read one";
  ctx.TryCancel();
  while (in->Read(&r)) {
  }
  EXPECT_EQ(in->Finish().error_code(), ::grpc::StatusCode::CANCELLED);
  EXPECT_TRUE(Eventually([&] { return server_->stats().streams_open == 0; }, 60s));
}

TEST_F(GrpcCppStreamTest, cancel_and_deadline_mid_stream) {
  {
    ::grpc::ClientContext ctx;
    auto method = Method("/grpc.testing.TestService/FullDuplexCall", RpcMethod::BIDI_STREAMING);
    std::unique_ptr<::grpc::ClientReaderWriter<gt::StreamingOutputCallRequest, gt::StreamingOutputCallResponse>> io(
        ::grpc::internal::ClientReaderWriterFactory<gt::StreamingOutputCallRequest,
                                                    gt::StreamingOutputCallResponse>::Create(channel_.get(), method, &ctx));
    gt::StreamingOutputCallResponse r;
    ASSERT_TRUE(io->Write(Ask({5})));
    ASSERT_TRUE(io->Read(&r));
    ctx.TryCancel();
    EXPECT_FALSE(io->Read(&r));
    EXPECT_EQ(io->Finish().error_code(), ::grpc::StatusCode::CANCELLED);
  }
  {
    ::grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 300ms);
    auto method = Method("/grpc.testing.TestService/FullDuplexCall", RpcMethod::BIDI_STREAMING);
    std::unique_ptr<::grpc::ClientReaderWriter<gt::StreamingOutputCallRequest, gt::StreamingOutputCallResponse>> io(
        ::grpc::internal::ClientReaderWriterFactory<gt::StreamingOutputCallRequest,
                                                    gt::StreamingOutputCallResponse>::Create(channel_.get(), method, &ctx));
    gt::StreamingOutputCallResponse r;
    ASSERT_TRUE(io->Write(Ask({5}, 0, 5'000'000)));  // the handler waits 5 s first
    EXPECT_FALSE(io->Read(&r));
    EXPECT_EQ(io->Finish().error_code(), ::grpc::StatusCode::DEADLINE_EXCEEDED);
  }
  EXPECT_TRUE(Eventually([&] { return server_->stats().streams_open == 0; }, 60s)) << "both ended on the node";
}

}  // namespace
}  // namespace krpc
