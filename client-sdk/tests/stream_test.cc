// The SDK's client streams (protocol=grpc) against a real krpc Server hosting gRPC's interop
// TestService (node/examples/interop_service.h): the generic API and the coroutine client
// protoc-gen-krpc generates, every kind of stream, flow control toward a slow reader, cancel,
// deadline, a krpc-wire channel refusing streams, and the endpoint's outcome counted.
#include <gtest/gtest.h>

#include <future>
#include <optional>
#include <string>
#include <vector>

#include "eventually.h"
#include "grpc/testing/test.krpc.h"
#include "interop_service.h"
#include "krpc/channel.h"
#include "krpc/client_runtime.h"
#include "krpc/client_stream.h"
#include "krpc/server.h"
#include "krpc/task.h"

namespace krpc {
namespace {
using namespace std::chrono_literals;
namespace gt = ::grpc::testing;
using testing::Eventually;

gt::StreamingOutputCallRequest Ask(std::vector<int> sizes, int payload = 0) {
  gt::StreamingOutputCallRequest r;
  for (int s : sizes) r.add_response_parameters()->set_size(s);
  r.mutable_payload()->mutable_body()->assign(static_cast<size_t>(payload), 'p');
  return r;
}

class StreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerOptions o;
    o.listen_host = "127.0.0.1";
    o.io_threads = 2;
    server_ = std::make_unique<Server>(o);
    ASSERT_TRUE(server_->AddService(&interop_).ok());
    ASSERT_TRUE(server_->Start().ok());
    channel_ = Open(WireProtocol::kGrpc);
    client_ = std::make_unique<gt::TestServiceClient>(channel_);
  }
  void TearDown() override { server_->Shutdown(0ms); }

  std::shared_ptr<Channel> Open(WireProtocol protocol) {
    ChannelOptions o;
    o.connection.protocol = protocol;
    auto ch = Channel::Create("127.0.0.1:" + std::to_string(server_->port()), o, runtime_);
    EXPECT_TRUE(ch.ok()) << ch.status();
    return ch.value();
  }
  const google::protobuf::MethodDescriptor* Method(const std::string& name) {
    return gt::TestServiceClient::descriptor()->FindMethodByName(name);
  }

  examples::InteropServiceImpl interop_;
  std::unique_ptr<Server> server_;
  std::shared_ptr<ClientRuntime> runtime_ = ClientRuntime::Create(2);
  std::shared_ptr<Channel> channel_;
  std::unique_ptr<gt::TestServiceClient> client_;
};

TEST_F(StreamTest, bidi_ping_pong_with_the_coroutine_client) {
  auto run = [&]() -> Task<std::vector<int>> {
    Controller ctx;
    ctx.set_timeout(30s);
    auto call = client_->FullDuplexCall(ctx);
    std::vector<int> got;
    const std::vector<int> sizes{31415, 9, 2653, 58979};
    for (int size : sizes) {
      const auto request = Ask(std::vector<int>(1, size), 100);  // GCC 12: no braced list inside a co_await
      const bool sent = co_await call.Write(request);
      if (!sent) break;
      std::optional<gt::StreamingOutputCallResponse> r = co_await call.Read();
      if (!r) break;
      got.push_back(static_cast<int>(r->payload().body().size()));
    }
    co_await call.WritesDone();
    std::optional<gt::StreamingOutputCallResponse> last = co_await call.Read();
    EXPECT_FALSE(last.has_value());
    Status st = co_await call.Finish();
    EXPECT_TRUE(st.ok()) << st;
    co_return got;
  };
  EXPECT_EQ(SyncWait(run()), (std::vector<int>{31415, 9, 2653, 58979}));
}

TEST_F(StreamTest, server_and_client_streaming_with_the_coroutine_client) {
  auto server_streaming = [&]() -> Task<std::vector<int>> {
    Controller ctx;
    auto call = client_->StreamingOutputCall(ctx);
    const auto request = Ask(std::vector<int>{1, 2, 3, 1 << 20});
    co_await call.Write(request);
    co_await call.WritesDone();
    std::vector<int> got;
    while (std::optional<gt::StreamingOutputCallResponse> r = co_await call.Read()) {
      got.push_back(static_cast<int>(r->payload().body().size()));
    }
    Status st = co_await call.Finish();
    EXPECT_TRUE(st.ok()) << st;
    co_return got;
  };
  EXPECT_EQ(SyncWait(server_streaming()), (std::vector<int>{1, 2, 3, 1 << 20}));

  auto client_streaming = [&]() -> Task<int> {
    Controller ctx;
    auto call = client_->StreamingInputCall(ctx);
    const std::vector<int> sizes{27182, 8, 1828, 45904};
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
  EXPECT_EQ(SyncWait(client_streaming()), 27182 + 8 + 1828 + 45904);
}

TEST_F(StreamTest, the_status_and_trailing_metadata_reach_the_generic_client) {
  Controller ctx;
  ctx.AddMetadata("x-grpc-test-echo-trailing-bin", std::string("\x0a\x0b", 2));
  auto s = channel_->OpenStream(Method("FullDuplexCall"), &ctx);
  auto req = Ask({1});
  req.mutable_response_status()->set_code(static_cast<int>(StatusCode::kAborted));
  req.mutable_response_status()->set_message("as asked");
  s->Write(req, [](bool) {});
  std::promise<Status> done;
  s->Finish([&](const Status& st) { done.set_value(st); });
  const Status st = done.get_future().get();
  EXPECT_EQ(st.code(), StatusCode::kAborted);
  EXPECT_EQ(st.message(), "as asked");
  bool echoed = false;
  for (const auto& [k, v] : ctx.response_metadata()) echoed |= k == "x-grpc-test-echo-trailing-bin" && v == "\x0a\x0b";
  EXPECT_TRUE(echoed);
}

TEST_F(StreamTest, a_reader_that_stops_holds_the_server_at_its_window) {
  // The server would send 256 messages of 1 MiB; the client reads one and stops. The node's
  // handler waits for the window (its writes_waiting counter), having sent a few messages.
  Controller ctx;
  auto s = channel_->OpenStream(Method("StreamingOutputCall"), &ctx);
  s->Write(Ask(std::vector<int>(256, 1 << 20)), [](bool) {});
  s->WritesDone([](bool) {});
  gt::StreamingOutputCallResponse r;
  std::promise<bool> first;
  s->Read(&r, [&](bool ok) { first.set_value(ok); });
  ASSERT_TRUE(first.get_future().get());
  ASSERT_TRUE(Eventually([&] { return server_->stats().stream_writes_waiting == 1; }, 60s))
      << "the handler waits for the client's window";
  EXPECT_LT(server_->stats().stream_messages_sent, 16u) << "1 MiB messages written to a reader that read one";
  s->Cancel();
  std::promise<Status> done;
  s->Finish([&](const Status& st) { done.set_value(st); });
  EXPECT_EQ(done.get_future().get().code(), StatusCode::kCancelled);
  EXPECT_TRUE(Eventually([&] { return server_->stats().streams_open == 0; }, 60s)) << "the node saw the cancel";
}

TEST_F(StreamTest, the_deadline_covers_the_whole_stream) {
  Controller ctx;
  ctx.set_timeout(300ms);
  auto s = channel_->OpenStream(Method("FullDuplexCall"), &ctx);
  auto req = Ask({1});
  req.mutable_response_parameters(0)->set_interval_us(5'000'000);  // the handler waits 5 s
  s->Write(req, [](bool) {});
  std::promise<Status> done;
  s->Finish([&](const Status& st) { done.set_value(st); });
  EXPECT_EQ(done.get_future().get().code(), StatusCode::kDeadlineExceeded);
}

TEST_F(StreamTest, a_krpc_wire_channel_refuses_streams_cleanly) {
  auto krpc_channel = Open(WireProtocol::kKrpc);
  Controller ctx;
  auto s = krpc_channel->OpenStream(Method("FullDuplexCall"), &ctx);
  std::promise<bool> wrote;
  s->Write(Ask({1}), [&](bool ok) { wrote.set_value(ok); });
  std::promise<Status> done;
  s->Finish([&](const Status& st) { done.set_value(st); });
  EXPECT_EQ(done.get_future().get().code(), StatusCode::kUnimplemented);
  EXPECT_FALSE(wrote.get_future().get());
}

}  // namespace
}  // namespace krpc
