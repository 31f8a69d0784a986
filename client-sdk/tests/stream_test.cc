// The SDK's client streams against a real krpc Server hosting gRPC's interop TestService
// (node/examples/interop_service.h), over both wires (krpc's stream frames and gRPC): the
// generic API and the coroutine client protoc-gen-krpc generates, every kind of stream, flow
// control toward a slow reader, cancel, deadline, and clean refusals.
#include <gtest/gtest.h>

#include <future>
#include <optional>
#include <string>
#include <vector>

#include "eventually.h"
#include "grpc/testing/test.krpc.h"
#include "examples/echo.pb.h"
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

class StreamTest : public ::testing::TestWithParam<WireProtocol> {
 protected:
  void SetUp() override {
    ServerOptions o;
    o.listen_host = "127.0.0.1";
    o.io_threads = 2;
    server_ = std::make_unique<Server>(o);
    ASSERT_TRUE(server_->AddService(&interop_).ok());
    ASSERT_TRUE(server_->Start().ok());
    channel_ = Open(GetParam());
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

TEST_P(StreamTest, bidi_ping_pong_with_the_coroutine_client) {
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

TEST_P(StreamTest, server_and_client_streaming_with_the_coroutine_client) {
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

TEST_P(StreamTest, the_status_and_trailing_metadata_reach_the_generic_client) {
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

TEST_P(StreamTest, a_reader_that_stops_holds_the_server_at_its_window) {
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

TEST_P(StreamTest, the_deadline_covers_the_whole_stream) {
  Controller ctx;
  ctx.set_timeout(300ms);
  auto s = channel_->OpenStream(Method("FullDuplexCall"), &ctx);
  auto req = Ask({1});
  req.mutable_response_parameters(0)->set_interval_us(1'000'000);  // the handler waits 1 s
  s->Write(req, [](bool) {});
  std::promise<Status> done;
  s->Finish([&](const Status& st) { done.set_value(st); });
  EXPECT_EQ(done.get_future().get().code(), StatusCode::kDeadlineExceeded);
  // The handler learns it when it writes after its wait, and ends (nothing left behind).
  EXPECT_TRUE(Eventually([&] { return server_->stats().streams_open == 0; }, 60s));
}

TEST_P(StreamTest, a_stream_to_a_method_the_node_lacks_is_refused_cleanly) {
  // What a node without streams (or without this method) answers: UNIMPLEMENTED, and the
  // client's message is never sent (krpc: no frame of a new type before STREAM_ACCEPT).
  auto* method = examples::EchoService::descriptor()->method(0);  // not hosted by this server
  Controller ctx;
  auto s = channel_->OpenStream(method, &ctx);
  examples::EchoRequest req;
  std::promise<bool> wrote;
  s->Write(req, [&](bool ok) { wrote.set_value(ok); });
  std::promise<Status> done;
  s->Finish([&](const Status& st) { done.set_value(st); });
  EXPECT_EQ(done.get_future().get().code(), StatusCode::kUnimplemented);
  wrote.get_future().wait();
  EXPECT_EQ(server_->stats().frame_errors, 0u) << "no frame the node could not take";
  EXPECT_EQ(server_->stats().stream_messages_received, 0u);
}

// Reads a stream to its end with callbacks; `done` gets its status (DATA_LOSS when a message
// is not the size `want`, or not `count` of them came).
struct CountingReader : std::enable_shared_from_this<CountingReader> {
  std::shared_ptr<ClientStream> stream;
  size_t want = 0;
  int count = 0;
  int got = 0;
  std::promise<Status> done;
  gt::StreamingOutputCallResponse msg;
  void Next() {
    stream->Read(&msg, [self = shared_from_this()](bool ok) {
      if (ok) {
        if (self->msg.payload().body().size() == self->want) ++self->got;
        return self->Next();
      }
      self->stream->Finish([self](const Status& st) {
        self->done.set_value(st.ok() && self->got == self->count ? st : Status(StatusCode::kDataLoss, "missing"));
      });
    });
  }
};

TEST_P(StreamTest, many_streams_at_once_on_one_connection) {
  constexpr int kStreams = 64;
  std::vector<std::unique_ptr<Controller>> ctxs;
  std::vector<std::future<Status>> ends;
  for (int i = 0; i < kStreams; ++i) {
    ctxs.push_back(std::make_unique<Controller>());
    auto r = std::make_shared<CountingReader>();
    r->stream = channel_->OpenStream(Method("StreamingOutputCall"), ctxs.back().get());
    r->want = static_cast<size_t>(1000 + i);
    r->count = 3;
    r->stream->Write(Ask(std::vector<int>(3, 1000 + i)), [](bool) {});
    r->stream->WritesDone([](bool) {});
    ends.push_back(r->done.get_future());
    r->Next();
  }
  for (auto& e : ends) EXPECT_TRUE(e.get().ok());
}

TEST(KrpcWireStreamTest, a_stream_opened_on_a_unary_method_is_refused) {
  ServerOptions o;
  o.listen_host = "127.0.0.1";
  Server server(o);
  examples::InteropServiceImpl interop;
  ASSERT_TRUE(server.AddService(&interop).ok());
  ASSERT_TRUE(server.Start().ok());
  auto ch = Channel::Create("127.0.0.1:" + std::to_string(server.port()), {});
  ASSERT_TRUE(ch.ok());
  Controller ctx;
  auto s = (*ch)->OpenStream(gt::TestServiceClient::descriptor()->FindMethodByName("UnaryCall"), &ctx);
  std::promise<Status> done;
  s->Finish([&](const Status& st) { done.set_value(st); });
  EXPECT_EQ(done.get_future().get().code(), StatusCode::kInvalidArgument);
  server.Shutdown(0ms);
}

INSTANTIATE_TEST_SUITE_P(BothWires, StreamTest, ::testing::Values(WireProtocol::kKrpc, WireProtocol::kGrpc),
                         [](const auto& info) { return std::string(info.param == WireProtocol::kKrpc ? "krpc" : "grpc"); });

}  // namespace
}  // namespace krpc
