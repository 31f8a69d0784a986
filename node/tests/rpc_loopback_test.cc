// Loopback integration tests: a real krpc Server and real Channels over 127.0.0.1.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <future>
#include <sstream>
#include <random>
#include <set>
#include <thread>

#include "echo_service.h"
#include "eventually.h"
#include "examples/user.pb.h"
#include "krpc/channel.h"
#include "krpc/client_runtime.h"
#include "krpc/codec/frame.h"
#include "krpc/server.h"
#include "krpc/wire.pb.h"
#include "test_services.h"

namespace krpc {
namespace {
using namespace std::chrono_literals;
using examples::EchoRequest;
using examples::EchoResponse;
using examples::EchoService_Stub;
using testing::Eventually;
using testing::GatedEcho;
using testing::RawClient;
using testing::ReadResponse;
using testing::ScriptedEcho;

constexpr const char* kEcho = "/krpc.examples.EchoService/Echo";

class LoopbackTest : public ::testing::Test {
 protected:
  void StartServer(ServerOptions o = {}) {
    o.listen_host = "127.0.0.1";
    if (o.port == 0) o.port = port_;
    if (o.io_threads == 0) o.io_threads = 2;
    server_ = std::make_unique<Server>(o);
    ASSERT_TRUE(server_->AddService(&echo_).ok());
    Status s = server_->Start();
    ASSERT_TRUE(s.ok()) << s;
    port_ = server_->port();
  }

  std::shared_ptr<Channel> MakeChannel(ChannelOptions o = {}) {
    auto ch = Channel::Create("127.0.0.1:" + std::to_string(port_), o, runtime_);
    EXPECT_TRUE(ch.ok()) << ch.status();
    return ch.value();
  }

  Status Echo(Channel* ch, const std::string& payload, std::string* out = nullptr,
              std::vector<std::pair<std::string, std::string>> md = {}, std::chrono::milliseconds timeout = 2000ms) {
    EchoService_Stub stub(ch);
    Controller cntl;
    cntl.set_timeout(timeout);
    for (auto& [k, v] : md) cntl.AddMetadata(k, v);
    EchoRequest req;
    req.set_payload(payload);
    EchoResponse resp;
    stub.Echo(&cntl, &req, &resp, nullptr);
    if (out) *out = resp.payload();
    return cntl.status();
  }

  void TearDown() override {
    if (server_) server_->Shutdown(0ms);
  }

  ScriptedEcho echo_;
  std::unique_ptr<Server> server_;
  uint16_t port_ = 0;
  std::shared_ptr<ClientRuntime> runtime_ = ClientRuntime::Create(2);
};

TEST_F(LoopbackTest, blocking_future_and_callback_calls_share_one_path) {
  StartServer();
  auto ch = MakeChannel();
  std::string out;
  ASSERT_TRUE(Echo(ch.get(), "blocking", &out).ok());
  EXPECT_EQ(out, "blocking");

  EchoService_Stub stub(ch.get());
  Controller cntl;
  EchoRequest req;
  req.set_payload("future");
  EchoResponse resp;
  auto f = CallFuture(&cntl, [&](google::protobuf::Closure* d) { stub.Echo(&cntl, &req, &resp, d); });
  ASSERT_TRUE(f.get().ok());
  EXPECT_EQ(resp.payload(), "future");

  Controller cntl2;
  std::promise<std::string> got;
  req.set_payload("callback");
  EchoResponse resp2;
  struct Done : google::protobuf::Closure {
    std::promise<std::string>* p;
    EchoResponse* r;
    Controller* c;
    void Run() override { p->set_value(c->Failed() ? c->ErrorText() : r->payload()); }
  } done;
  done.p = &got;
  done.r = &resp2;
  done.c = &cntl2;
  stub.Echo(&cntl2, &req, &resp2, &done);
  EXPECT_EQ(got.get_future().get(), "callback");
  EXPECT_EQ(cntl2.remote(), "127.0.0.1:" + std::to_string(port_));
}

TEST_F(LoopbackTest, thousand_pipelined_calls_on_one_connection_pair_correctly) {
  StartServer();
  ChannelOptions one_connection;
  one_connection.pool.enabled = false;
  auto ch = MakeChannel(one_connection);
  constexpr int kCalls = 1000;
  struct Call {
    Controller cntl;
    EchoRequest req;
    EchoResponse resp;
    std::future<Status> done;
  };
  std::vector<std::unique_ptr<Call>> calls;
  EchoService_Stub stub(ch.get());
  for (int i = 0; i < kCalls; ++i) {
    auto c = std::make_unique<Call>();
    c->req.set_payload("call-" + std::to_string(i) + std::string(i % 97, 'p'));
    // Every 10th call is completed late by the server, so responses come back out of order.
    if (i % 10 == 0) c->cntl.AddMetadata("delay-ms", std::to_string(1 + i % 30));
    auto* raw = c.get();
    c->done = CallFuture(&c->cntl, [&stub, raw](google::protobuf::Closure* d) { stub.Echo(&raw->cntl, &raw->req, &raw->resp, d); });
    calls.push_back(std::move(c));
  }
  for (auto& c : calls) {
    Status s = c->done.get();
    ASSERT_TRUE(s.ok()) << s;
    EXPECT_EQ(c->resp.payload(), c->req.payload());
  }
  EXPECT_EQ(server_->stats().connections_accepted, 1u) << "all calls shared one connection";
}

// Replies to a long read batch leave in chunks while the batch is still being handled, so the
// client works on the first answers while the server handles the rest (pipelining on one
// connection); they do not all wait for the batch's end.
TEST(BatchFlushTest, replies_to_a_long_batch_leave_before_the_batch_ends) {
  GatedEcho echo("hold");  // inline on the I/O thread (no handler pool): it holds the batch
  ServerOptions o;
  o.listen_host = "127.0.0.1";
  o.io_threads = 1;
  Server server(o);
  struct OpenAtExit {  // a failed assertion must not leave the I/O thread held
    GatedEcho& echo;
    ~OpenAtExit() { echo.Open(); }
  } open_at_exit{echo};
  ASSERT_TRUE(server.AddService(&echo).ok());
  ASSERT_TRUE(server.Start().ok());
  RawClient raw(server.port());
  ASSERT_TRUE(raw.connected());
  // 63 ordinary requests and a held one, in one write: one read batch on the server.
  constexpr int kCalls = 64;
  std::string batch;
  for (int id = 1; id < kCalls; ++id) batch += testing::RawRequest(id, kEcho, testing::EchoBody("x"), 0);
  batch += testing::RawRequest(kCalls, kEcho, testing::EchoBody("hold"), 0);
  ASSERT_TRUE(raw.Send(batch));
  // While the last request holds the batch, the answers to the first ones arrive.
  std::string pending;
  testing::RawFrame frame;
  bool closed = false;
  std::set<uint64_t> answered;
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(testing::ReadFrame(raw, &pending, &frame, &closed)) << "no reply while the batch was held";
    wire::ResponseHeader h;
    ASSERT_EQ(frame.type, codec::FrameType::kResponse);
    ASSERT_TRUE(h.ParseFromString(frame.header));
    EXPECT_EQ(h.status(), 0);
    answered.insert(h.call_id());
  }
  EXPECT_EQ(answered.count(kCalls), 0u);
  echo.Open();
  while (answered.size() < static_cast<size_t>(kCalls)) {
    ASSERT_TRUE(testing::ReadFrame(raw, &pending, &frame, &closed));
    wire::ResponseHeader h;
    ASSERT_TRUE(h.ParseFromString(frame.header));
    EXPECT_EQ(h.status(), 0);
    answered.insert(h.call_id());
  }
  EXPECT_EQ(*answered.begin(), 1u);
  EXPECT_EQ(*answered.rbegin(), static_cast<uint64_t>(kCalls));
  server.Shutdown(0ms);
}

// The kernel's count of SYNs dropped by full listen queues (TcpExt ListenDrops).
uint64_t ListenDrops() {
  std::ifstream in("/proc/net/netstat");
  std::string names, values;
  while (std::getline(in, names) && std::getline(in, values)) {
    if (names.rfind("TcpExt:", 0) != 0) continue;
    std::istringstream n(names), v(values);
    std::string name, value;
    while (n >> name && v >> value) {
      if (name == "ListenDrops") return std::stoull(value);
    }
  }
  return 0;
}

// Copies bytes both ways between two connected sockets until either side closes.
void Relay(int a, int b) {
  std::thread back([a, b] {
    char buf[16384];
    for (ssize_t n; (n = ::read(b, buf, sizeof buf)) > 0;) {
      if (::write(a, buf, static_cast<size_t>(n)) != n) break;
    }
    ::shutdown(a, SHUT_WR);
  });
  char buf[16384];
  for (ssize_t n; (n = ::read(a, buf, sizeof buf)) > 0;) {
    if (::write(b, buf, static_cast<size_t>(n)) != n) break;
  }
  ::shutdown(b, SHUT_WR);
  back.join();
}

// A SYN that gets no answer is resent by the kernel only after 1 s, later than the connect
// timeout: the client tries again at once on a fresh socket instead of failing the calls that
// wait for the connection. The lost SYN is made real: the listener's queue is full (backlog 0
// with one connection parked in it), so the kernel drops the client's first SYN.
TEST_F(LoopbackTest, a_connect_whose_first_syn_is_dropped_succeeds_on_a_fresh_socket) {
  StartServer();
  uint16_t port = 0;
  const int listener = testing::ListenLoopback(0, &port);
  ASSERT_GE(listener, 0);
  RawClient parked(port);  // fills the queue
  ASSERT_TRUE(parked.connected());
  const uint64_t drops = ListenDrops();

  ChannelOptions o;
  o.retry.max_attempts = 1;  // the connection itself must come up: no second call attempt
  o.pool.enabled = false;
  o.connection.connect_timeout_ms = 800;
  auto ch = Channel::Create("127.0.0.1:" + std::to_string(port), o, runtime_).value();
  EchoService_Stub stub(ch.get());
  Controller cntl;
  cntl.set_timeout(30000ms);
  EchoRequest req;
  req.set_payload("through a lost SYN");
  EchoResponse resp;
  auto done = CallFuture(&cntl, [&](google::protobuf::Closure* d) { stub.Echo(&cntl, &req, &resp, d); });

  ASSERT_TRUE(Eventually([&] { return ListenDrops() > drops; })) << "the first SYN was not dropped";
  ::close(::accept(listener, nullptr, nullptr));  // the parked connection: the queue has room
  pollfd next{listener, POLLIN, 0};  // the client's next attempt (without a retry: none; the call failed)
  if (::poll(&next, 1, 30000) != 1) {
    ::close(listener);
    FAIL() << "no second connect attempt; the call ended with: " << done.get();
  }
  const int client = ::accept(listener, nullptr, nullptr);
  ASSERT_GE(client, 0);
  RawClient upstream(port_);
  ASSERT_TRUE(upstream.connected());
  std::thread relay([client, &upstream] { Relay(client, upstream.fd()); });

  const Status s = done.get();
  EXPECT_TRUE(s.ok()) << s;
  EXPECT_EQ(resp.payload(), "through a lost SYN");
  ch->Shutdown();
  relay.join();
  ::close(client);
  ::close(listener);
}

TEST_F(LoopbackTest, payloads_from_zero_to_four_mebibytes_are_never_cut) {
  StartServer();
  auto ch = MakeChannel();
  for (size_t size : {size_t{0}, size_t{1}, size_t{1023}, size_t{1024}, size_t{1025}, size_t{4096}, size_t{65536},
                      size_t{1} << 20, (size_t{4} << 20) - 16}) {
    std::string payload(size, '\0');
    for (size_t i = 0; i < size; ++i) payload[i] = static_cast<char>(i * 31 + 7);
    std::string out;
    Status s = Echo(ch.get(), payload, &out, {}, 10s);
    ASSERT_TRUE(s.ok()) << size << ": " << s;
    ASSERT_EQ(out.size(), size);
    EXPECT_TRUE(out == payload) << "payload of " << size << " bytes differs";
  }
}

TEST_F(LoopbackTest, oversize_request_gets_resource_exhausted_naming_the_limit) {
  StartServer();
  auto ch = MakeChannel();
  Status s = Echo(ch.get(), std::string((4u << 20) + 1, 'x'));
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted) << s;
  EXPECT_NE(s.message().find("max_body_bytes=4194304"), std::string::npos) << s;

  // A client allowed larger bodies sends it; the server answers with its own limit, then closes.
  ChannelOptions big;
  big.connection.max_body_bytes = 8u << 20;
  auto ch2 = MakeChannel(big);
  s = Echo(ch2.get(), std::string(5u << 20, 'x'));
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted) << s;
  EXPECT_NE(s.message().find("exceeds max_body_bytes=4194304"), std::string::npos) << s;
  EXPECT_TRUE(Echo(ch.get(), "still serving").ok());
}

TEST_F(LoopbackTest, unknown_method_answers_unimplemented) {
  StartServer();
  auto ch = MakeChannel();
  examples::UserService_Stub users(ch.get());
  Controller cntl;
  examples::LoginRequest req;
  examples::LoginResponse resp;
  users.Login(&cntl, &req, &resp, nullptr);
  EXPECT_EQ(cntl.code(), StatusCode::kUnimplemented) << cntl.ErrorText();
  EXPECT_NE(cntl.status().message().find("/krpc.examples.UserService/Login"), std::string::npos);
}

TEST_F(LoopbackTest, slow_handler_hits_the_deadline_and_the_late_reply_is_dropped) {
  StartServer();
  auto ch = MakeChannel();
  const auto start = std::chrono::steady_clock::now();
  Status s = Echo(ch.get(), "slow", nullptr, {{"delay-ms", "400"}}, 100ms);
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(s.code(), StatusCode::kDeadlineExceeded) << s;
  EXPECT_GE(took, 95ms);
  // The late reply arrives (the handler finishes) and must be ignored.
  ASSERT_TRUE(Eventually([&] { return server_->stats().calls_inflight == 0; }, 60s));
  std::string out;
  ASSERT_TRUE(Echo(ch.get(), "after", &out).ok());
  EXPECT_EQ(out, "after");
}

TEST_F(LoopbackTest, handler_sees_remaining_deadline_and_metadata) {
  StartServer();
  auto ch = MakeChannel();
  std::string out;
  ASSERT_TRUE(Echo(ch.get(), "", &out, {{"report", "deadline"}}, 800ms).ok());
  const long remaining = std::stol(out);
  EXPECT_GT(remaining, 500000);
  EXPECT_LE(remaining, 800000);
  ASSERT_TRUE(Echo(ch.get(), "", &out, {{"report", "metadata"}, {"X-Value", "hello"}}).ok());
  EXPECT_EQ(out, "hello") << "keys are lowercased on the client";
}

TEST_F(LoopbackTest, already_expired_request_is_answered_without_running_the_handler) {
  StartServer();
  wire::RequestHeader h;
  h.set_call_id(5);
  h.set_method("/krpc.examples.EchoService/Echo");
  h.set_timeout_us(1);
  EchoRequest body;
  body.set_payload("x");
  std::vector<char> frame;
  codec::AppendFrame(frame, codec::FrameType::kRequest, h, &body);
  RawClient raw(port_);
  ASSERT_TRUE(raw.connected());
  ASSERT_TRUE(raw.Send(std::string(frame.begin(), frame.end())));
  bool closed = false;
  wire::ResponseHeader rh;
  ASSERT_TRUE(ReadResponse(raw, &rh, &closed));
  EXPECT_EQ(rh.call_id(), 5u);
  EXPECT_EQ(rh.status(), int(StatusCode::kDeadlineExceeded));
  EXPECT_TRUE(rh.not_executed());
  EXPECT_EQ(echo_.calls.load(), 0);
}

TEST_F(LoopbackTest, killed_server_fails_calls_unavailable_and_client_recovers) {
  StartServer();
  ChannelOptions o;
  o.reconnect.initial_ms = 50;
  o.reconnect.max_ms = 200;
  auto ch = MakeChannel(o);
  ASSERT_TRUE(Echo(ch.get(), "warm").ok());
  EchoService_Stub stub(ch.get());
  Controller cntl;
  cntl.set_timeout(5s);
  cntl.AddMetadata("delay-ms", "3000");
  EchoRequest req;
  EchoResponse resp;
  auto pending = CallFuture(&cntl, [&](google::protobuf::Closure* d) { stub.Echo(&cntl, &req, &resp, d); });
  ASSERT_TRUE(Eventually([&] { return echo_.calls.load() == 2; }, 60s)) << "the slow call is running";
  server_->Shutdown(0ms);  // no drain: in-flight calls are cut
  Status s = pending.get();
  EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s << " (not the handler's late answer)";
  EXPECT_EQ(Echo(ch.get(), "while down").code(), StatusCode::kUnavailable);

  StartServer();  // same port
  Status last;
  EXPECT_TRUE(Eventually([&] { return (last = Echo(ch.get(), "back")).ok(); }, 60s)) << last;
}

TEST_F(LoopbackTest, idle_connection_is_kicked_but_heartbeats_keep_a_client_alive) {
  ServerOptions so;
  so.heartbeat_interval_ms = 100;
  so.heartbeat_miss_limit = 2;  // kick after 300 ms of silence
  StartServer(so);
  RawClient silent(port_);
  ASSERT_TRUE(silent.connected());

  ChannelOptions co;
  co.connection.heartbeat_interval_ms = 50;
  auto ch = MakeChannel(co);
  ASSERT_TRUE(Echo(ch.get(), "hi").ok());

  bool closed = false;
  silent.Read(1500ms, &closed);
  EXPECT_TRUE(closed) << "the silent connection is closed after interval*(miss+1)";
  EXPECT_EQ(server_->stats().idle_closed, 1u);
  ASSERT_TRUE(Echo(ch.get(), "still here").ok());
  const auto eps = ch->Endpoints();
  ASSERT_EQ(eps.size(), 1u);
  EXPECT_EQ(eps[0].connects, 1u) << "the pinging client was never kicked";
}

TEST_F(LoopbackTest, client_detects_a_silent_server_through_missed_heartbeats) {
  // A "server" that accepts and never answers: the client's PINGs go unanswered.
  const int fd = testing::ListenLoopback(4, &port_);
  ASSERT_GE(fd, 0);
  ChannelOptions co;
  co.connection.heartbeat_interval_ms = 50;
  co.connection.heartbeat_miss_limit = 2;
  auto ch = MakeChannel(co);
  // The call's 30 s deadline is far off: only the missed heartbeats can end it.
  Status s = Echo(ch.get(), "x", nullptr, {}, 30s);
  EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s;
  EXPECT_NE(s.message().find("missed heartbeats"), std::string::npos) << s;
  // A silent peer is hung, so its breaker wants to open at once; being the only endpoint, the
  // ejection cap keeps it in rotation (never eject the only host).
  ASSERT_EQ(ch->Endpoints().size(), 1u);
  EXPECT_EQ(ch->Endpoints()[0].breaker, BreakerState::kClosed);
  EXPECT_EQ(ch->stats().ejections_refused, 1u);
  ::close(fd);
}

TEST_F(LoopbackTest, inflight_limit_answers_resource_exhausted) {
  ServerOptions so;
  so.max_inflight = 2;
  StartServer(so);
  auto ch = MakeChannel();
  EchoService_Stub stub(ch.get());
  Controller c1, c2;
  EchoRequest req;
  EchoResponse r1, r2;
  c1.AddMetadata("delay-ms", "2000");  // held while the third call is refused
  c2.AddMetadata("delay-ms", "2000");
  c1.set_timeout(60s);
  c2.set_timeout(60s);
  auto f1 = CallFuture(&c1, [&](google::protobuf::Closure* d) { stub.Echo(&c1, &req, &r1, d); });
  auto f2 = CallFuture(&c2, [&](google::protobuf::Closure* d) { stub.Echo(&c2, &req, &r2, d); });
  ASSERT_TRUE(Eventually([&] { return server_->stats().calls_inflight == 2; }, 60s));
  Status s = Echo(ch.get(), "third");
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted) << s;
  EXPECT_NE(s.message().find("max_inflight=2"), std::string::npos);
  EXPECT_TRUE(f1.get().ok());
  EXPECT_TRUE(f2.get().ok());
  EXPECT_TRUE(Echo(ch.get(), "fourth").ok());
}

TEST_F(LoopbackTest, connection_limit_answers_resource_exhausted) {
  ServerOptions so;
  so.max_connections = 1;
  StartServer(so);
  auto first = MakeChannel();
  ASSERT_TRUE(Echo(first.get(), "one").ok());
  auto second = MakeChannel();
  Status s = Echo(second.get(), "two");
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted) << s;
  EXPECT_NE(s.message().find("max_connections=1"), std::string::npos) << s;
  EXPECT_TRUE(Echo(first.get(), "one again").ok());
}

TEST_F(LoopbackTest, garbage_closes_that_connection_and_the_server_keeps_serving) {
  StartServer();
  auto ch = MakeChannel();
  ASSERT_TRUE(Echo(ch.get(), "before").ok());
  std::mt19937 rng(7);
  for (int round = 0; round < 20; ++round) {
    RawClient raw(port_);
    ASSERT_TRUE(raw.connected());
    std::string junk(1 + rng() % 4096, '\0');
    for (auto& c : junk) c = static_cast<char>(rng());
    if (round % 2) junk.replace(0, 4, "KRPC");
    raw.Send(junk);
    bool closed = false;
    raw.Read(2s, &closed);
    EXPECT_TRUE(closed) << "round " << round;
    ASSERT_TRUE(Echo(ch.get(), "between").ok());
  }
  EXPECT_GE(server_->stats().frame_errors, 15u);

  // A half-written frame just waits (it is not an error) until the idle kick; others are served.
  RawClient half(port_);
  std::vector<char> frame;
  wire::PingHeader ping;
  codec::AppendFrame(frame, codec::FrameType::kPing, ping, nullptr);
  half.Send(std::string(frame.begin(), frame.begin() + 10));
  EXPECT_TRUE(Echo(ch.get(), "after half").ok());
}

TEST_F(LoopbackTest, oversize_frame_prefix_gets_an_error_naming_the_limit_then_close) {
  StartServer();
  wire::RequestHeader h;
  h.set_call_id(9);
  h.set_method("/krpc.examples.EchoService/Echo");
  std::string header;
  h.SerializeToString(&header);
  std::vector<char> frame;
  codec::AppendRawFrame(frame, codec::FrameType::kRequest, header, "");
  const uint32_t frame_len = static_cast<uint32_t>(header.size()) + (5u << 20);
  frame[8] = char(frame_len >> 24); frame[9] = char(frame_len >> 16);
  frame[10] = char(frame_len >> 8); frame[11] = char(frame_len);
  RawClient raw(port_);
  raw.Send(std::string(frame.begin(), frame.end()));
  bool closed = false;
  const std::string reply = raw.Read(2s, &closed);
  EXPECT_TRUE(closed);
  auto r = codec::DecodeFrame(reply, {});
  ASSERT_EQ(r.status, codec::DecodeStatus::kFrame);
  wire::ResponseHeader rh;
  ASSERT_TRUE(rh.ParseFromArray(r.frame.header.data(), int(r.frame.header.size())));
  EXPECT_EQ(rh.call_id(), 9u);
  EXPECT_EQ(rh.status(), int(StatusCode::kResourceExhausted));
  EXPECT_NE(rh.message().find("max_body_bytes=4194304"), std::string::npos) << rh.message();
}

TEST_F(LoopbackTest, graceful_shutdown_finishes_inflight_calls_and_refuses_new_ones) {
  StartServer();
  auto ch = MakeChannel();
  EchoService_Stub stub(ch.get());
  Controller cntl;
  cntl.AddMetadata("delay-ms", "300");
  EchoRequest req;
  req.set_payload("in flight");
  EchoResponse resp;
  auto pending = CallFuture(&cntl, [&](google::protobuf::Closure* d) { stub.Echo(&cntl, &req, &resp, d); });
  ASSERT_TRUE(Eventually([&] { return echo_.calls.load() == 1; }, 60s)) << "the call is in flight";
  auto stopped = std::async(std::launch::async, [&] { return server_->Shutdown(30s); });
  ASSERT_TRUE(Eventually([&] { return server_->draining(); }, 60s));
  Status late = Echo(ch.get(), "new call");
  EXPECT_EQ(late.code(), StatusCode::kUnavailable) << late;
  Status s = pending.get();
  EXPECT_TRUE(s.ok()) << s;
  EXPECT_EQ(resp.payload(), "in flight");
  EXPECT_TRUE(stopped.get()) << "drain completed within the timeout";
}

TEST_F(LoopbackTest, cancel_completes_the_call_and_tells_the_server) {
  StartServer();
  auto ch = MakeChannel();
  EchoService_Stub stub(ch.get());
  Controller cntl;
  cntl.AddMetadata("report", "canceled");
  cntl.AddMetadata("delay-ms", "1000");  // when the handler looks at IsCanceled()
  EchoRequest req;
  EchoResponse resp;
  auto pending = CallFuture(&cntl, [&](google::protobuf::Closure* d) { stub.Echo(&cntl, &req, &resp, d); });
  ASSERT_TRUE(Eventually([&] { return echo_.calls.load() == 1; }, 60s)) << "the handler runs";
  cntl.StartCancel();
  EXPECT_EQ(pending.get().code(), StatusCode::kCancelled);
  EXPECT_TRUE(Eventually([&] { return echo_.canceled.load() == 1; }, 60s)) << "the handler saw IsCanceled()";
}

TEST_F(LoopbackTest, handlers_on_a_worker_pool_and_scripted_failures) {
  ServerOptions so;
  so.handler_threads = 2;
  StartServer(so);
  auto ch = MakeChannel();
  std::string out;
  ASSERT_TRUE(Echo(ch.get(), "pooled", &out).ok());
  EXPECT_EQ(out, "pooled");
  Status s = Echo(ch.get(), "", nullptr, {{"fail-code", "PERMISSION_DENIED"}});
  EXPECT_EQ(s.code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(s.message(), "scripted failure");
}

}  // namespace
}  // namespace krpc
