// A draining server loses no call: it keeps each krpc connection open until the client has
// acknowledged the GOAWAY (the PONG to the PING sent behind it) or closed, so a request that
// crossed the GOAWAY on the wire is answered "not executed" instead of being destroyed by the
// close. Real servers, raw sockets and real channels over loopback.
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>
#include <vector>

#include "eventually.h"
#include "examples/echo.pb.h"
#include "krpc/channel.h"
#include "krpc/client_runtime.h"
#include "krpc/codec/frame.h"
#include "krpc/registry_layout.h"
#include "krpc/server.h"
#include "krpc/wire.pb.h"
#include "test_services.h"
#include "krpc/zk_client.h"
#include "zk_server.h"

namespace krpc {
namespace {
using namespace std::chrono_literals;
using codec::FrameType;
using examples::EchoRequest;
using examples::EchoResponse;
using examples::EchoService_Stub;
using testing::EchoBody;
using testing::Eventually;
using testing::GatedEcho;
using testing::RawClient;
using testing::RawFrame;
using testing::RawPing;
using testing::RawRequest;
using testing::ReadFrame;
using testing::ScriptedEcho;

constexpr const char* kEcho = "/krpc.examples.EchoService/Echo";

std::unique_ptr<Server> StartServer(google::protobuf::Service* echo, int handler_threads = 0) {
  ServerOptions o;
  o.listen_host = "127.0.0.1";
  o.io_threads = 2;
  o.handler_threads = handler_threads;
  auto s = std::make_unique<Server>(o);
  EXPECT_TRUE(s->AddService(echo).ok());
  Status st = s->Start();
  EXPECT_TRUE(st.ok()) << st;
  return s;
}

// A raw client whose first call was answered: the server has registered its connection.
struct RawPeer {
  explicit RawPeer(uint16_t port) : raw(port) {}
  bool Call(uint64_t id, wire::ResponseHeader* h) {
    raw.Send(RawRequest(id, kEcho, EchoBody("x"), 0));
    return Next(FrameType::kResponse) && h->ParseFromString(frame.header);
  }
  bool Next(FrameType type) { return ReadFrame(raw, &pending, &frame, &closed) && frame.type == type; }
  RawClient raw;
  std::string pending;
  RawFrame frame;
  bool closed = false;
};

// A server with one raw krpc client whose first call was answered.
class RawDrainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = StartServer(&echo_);
    peer_ = std::make_unique<RawPeer>(server_->port());
    wire::ResponseHeader h;
    ASSERT_TRUE(peer_->Call(1, &h));
    ASSERT_EQ(h.status(), 0) << h.message();
  }
  // The drain's opening: a GOAWAY with status OK, then a PING (its header in *ping).
  void ExpectGoawayThenPing(wire::PingHeader* ping) {
    ASSERT_TRUE(peer_->Next(FrameType::kGoaway));
    wire::GoawayHeader g;
    ASSERT_TRUE(g.ParseFromString(peer_->frame.header));
    EXPECT_EQ(g.status(), 0) << "a drain, not a refusal";
    ASSERT_TRUE(peer_->Next(FrameType::kPing)) << "a PING follows the GOAWAY";
    ASSERT_TRUE(ping->ParseFromString(peer_->frame.header));
  }
  ScriptedEcho echo_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<RawPeer> peer_;
};

TEST_F(RawDrainTest, a_request_that_crosses_the_goaway_is_answered_not_executed_before_the_close) {
  auto stopped = std::async(std::launch::async, [&] { return server_->Shutdown(60s); });
  wire::PingHeader ping;
  ExpectGoawayThenPing(&ping);

  // This client wrote a request before it read the GOAWAY. Nothing has acknowledged the
  // GOAWAY yet, so the server must still read and answer it.
  peer_->raw.Send(RawRequest(2, kEcho, EchoBody("crossing"), 0));
  ASSERT_TRUE(peer_->Next(FrameType::kResponse)) << "the crossing request was destroyed by the close";
  wire::ResponseHeader h;
  ASSERT_TRUE(h.ParseFromString(peer_->frame.header));
  EXPECT_EQ(h.call_id(), 2u);
  EXPECT_EQ(h.status(), static_cast<int>(StatusCode::kUnavailable));
  EXPECT_TRUE(h.not_executed()) << "safe to retry elsewhere, even for a write";
  EXPECT_EQ(echo_.calls.load(), 1) << "the handler never ran for the crossing request";

  // The acknowledgement: now nothing more can be on its way, and the drain completes.
  peer_->raw.Send(RawPing(FrameType::kPong, ping.nonce()));
  EXPECT_FALSE(peer_->Next(FrameType::kResponse));
  EXPECT_TRUE(peer_->closed) << "the server closes once acknowledged";
  EXPECT_TRUE(stopped.get()) << "no call was left in flight";
  EXPECT_EQ(server_->stats().drain_timeouts, 0u);
}

TEST_F(RawDrainTest, a_client_that_closes_instead_of_answering_the_ping_ends_its_wait) {
  auto stopped = std::async(std::launch::async, [&] { return server_->Shutdown(600s); });
  wire::PingHeader ping;
  ExpectGoawayThenPing(&ping);
  peer_.reset();  // closes the socket: the drain must not wait out its 600 s
  EXPECT_TRUE(stopped.get());
  EXPECT_EQ(server_->stats().drain_timeouts, 0u);
}

TEST_F(RawDrainTest, a_client_that_never_answers_holds_the_drain_only_until_its_timeout) {
  // No call is in flight, so the drain is clean even though this peer stays silent.
  EXPECT_TRUE(server_->Shutdown(300ms));
  EXPECT_EQ(server_->stats().drain_timeouts, 0u);
  wire::PingHeader ping;
  ExpectGoawayThenPing(&ping);
  EXPECT_FALSE(peer_->Next(FrameType::kResponse));
  EXPECT_TRUE(peer_->closed);
}

// The end-to-end promise with the real client: writes (never retried once they may have run)
// keep flowing through two servers while one of them drains, and none fails.
// Eight callers issue writes through a round-robin channel over two servers while the first
// drains; `stats` gets the channel's counters. No write may fail.
void WritesWhileOneOfTwoServersDrains(ChannelOptions o, ChannelStats* stats = nullptr) {
  ScriptedEcho echo_a, echo_b;
  auto a = StartServer(&echo_a);
  auto b = StartServer(&echo_b);
  auto runtime = ClientRuntime::Create(2);
  o.load_balancer = "round_robin";
  auto ch = Channel::Create("static://127.0.0.1:" + std::to_string(a->port()) + ",127.0.0.1:" +
                                std::to_string(b->port()),
                            o, runtime);
  ASSERT_TRUE(ch.ok()) << ch.status();
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0};
  std::mutex mu;
  std::vector<std::string> failures;
  std::vector<std::thread> callers;
  for (int t = 0; t < 8; ++t) {
    callers.emplace_back([&] {
      EchoService_Stub stub(ch.value().get());
      while (!stop.load()) {
        Controller cntl;
        cntl.set_timeout(30s);
        EchoRequest req;
        req.set_payload("write");
        EchoResponse resp;
        stub.Echo(&cntl, &req, &resp, nullptr);  // not marked idempotent: a write
        if (cntl.Failed()) {
          std::lock_guard lock(mu);
          failures.push_back(cntl.ErrorText());
        } else {
          ok.fetch_add(1);
        }
      }
    });
  }
  ASSERT_TRUE(Eventually([&] { return echo_a.calls.load() >= 500; }, 120s));
  EXPECT_TRUE(a->Shutdown(30s));
  const int after = ok.load();
  ASSERT_TRUE(Eventually([&] { return ok.load() >= after + 500; }, 120s)) << "B carries on alone";
  stop.store(true);
  for (auto& t : callers) t.join();
  EXPECT_TRUE(failures.empty()) << failures.size() << " writes failed, first: " << failures.front();
  EXPECT_GT(echo_b.calls.load(), 0);
  if (stats) *stats = ch.value()->stats();
}

TEST(DrainTest, writes_lose_nothing_while_one_of_two_servers_drains) { WritesWhileOneOfTwoServersDrains({}); }

// Without retries only transparent ones remain: writes refused unexecuted by the draining
// server, or never sent on its closing connection, are re-picked onto the other server.
TEST(DrainTest, writes_lose_nothing_while_one_of_two_servers_drains_even_without_retries) {
  ChannelOptions o;
  o.retry.max_attempts = 1;
  ChannelStats s;
  WritesWhileOneOfTwoServersDrains(o, &s);
  EXPECT_EQ(s.retries, 0u);
  EXPECT_GT(s.transparent_retries, 0u) << "writes met the drain and went to the other server";
}

// The client side of a rolling restart: the node deregisters and the channel drops it from
// the endpoint set while a write is still running there. The write must finish (it cannot be
// retried once it may have run); only new calls move to the endpoints that stay.
TEST(DrainTest, a_write_in_flight_to_an_endpoint_that_leaves_the_service_finishes) {
  testing::ZkServer zk;
  ASSERT_TRUE(zk.Start()) << "ZooKeeper did not start (is the zookeeper package installed?)";
  ZkClient registry(ZkOptions{zk.hosts(), 10000, ""});
  ASSERT_TRUE(registry.Start().ok());
  ASSERT_TRUE(registry.WaitConnected(30s));
  const std::string service = "krpc.examples.EchoService";
  ASSERT_TRUE(registry.EnsurePath(registry::ProvidersPath("/krpc", service)).ok());
  const auto publish = [&](const Server& s) {
    registry::ProviderInfo info;
    info.endpoint = Endpoint{"127.0.0.1", s.port()};
    const auto path = registry::ProviderPath("/krpc", service, info.endpoint);
    EXPECT_TRUE(registry.Create(path, info.ToJson(), true).ok());
    return path;
  };
  GatedEcho gated;
  ScriptedEcho echo_b;
  auto a = StartServer(&gated, 2);
  auto b = StartServer(&echo_b);
  const std::string a_path = publish(*a);

  auto runtime = ClientRuntime::Create(2);
  auto ch = Channel::Create("zk://" + zk.hosts() + "/krpc", {}, runtime).value();
  ASSERT_TRUE(ch->WaitForEndpoints(service, 30s).ok());
  EchoService_Stub stub(ch.get());
  Controller write;
  write.set_timeout(60s);
  EchoRequest req;
  req.set_payload("write");
  EchoResponse resp;
  auto done = CallFuture(&write, [&](google::protobuf::Closure* d) { stub.Echo(&write, &req, &resp, d); });
  gated.WaitRunning(1);  // running on A, the only endpoint

  publish(*b);
  ASSERT_TRUE(Eventually([&] { return ch->Endpoints().size() == 2; }, 30s));
  ASSERT_TRUE(registry.Delete(a_path).ok());  // A deregisters, as a draining node does
  const std::string b_address = "127.0.0.1:" + std::to_string(b->port());
  ASSERT_TRUE(Eventually([&] {
    auto e = ch->Endpoints();
    return e.size() == 1 && e[0].address == b_address;
  }, 30s));

  // New calls go to B while the write is still running on A.
  Controller next;
  EchoResponse next_resp;
  stub.Echo(&next, &req, &next_resp, nullptr);
  EXPECT_FALSE(next.Failed()) << next.ErrorText();
  EXPECT_EQ(next.remote(), b_address);

  gated.Open();
  Status s = done.get();
  EXPECT_TRUE(s.ok()) << "the write in flight was cut off: " << s;
  EXPECT_EQ(resp.payload(), "write");
  ch->Shutdown();
}

}  // namespace
}  // namespace krpc
