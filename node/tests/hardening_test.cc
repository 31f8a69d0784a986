// Regression tests for the defects found by the hardening pass (docs/reliability.md lists
// them). Each test is named after its defect and drives real servers and channels over
// loopback; the ASan+UBSan and TSan builds of this suite catch the memory and thread bugs.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <dirent.h>
#include <future>
#include <set>
#include <stdexcept>
#include <thread>

#include "async_call.h"
#include "eventually.h"
#include "examples/echo.pb.h"
#include "krpc/channel.h"
#include "krpc/client_runtime.h"
#include "krpc/codec/frame.h"
#include "krpc/fault_injector.h"
#include "krpc/server.h"
#include "krpc/wire.pb.h"
#include "test_services.h"
#include "zk_server.h"

namespace krpc {
namespace {
using namespace std::chrono_literals;
using examples::EchoRequest;
using examples::EchoResponse;
using examples::EchoService_Stub;
using testing::AsyncCall;
using testing::Eventually;
using testing::GatedEcho;
using testing::EchoBody;
using testing::RawClient;
using testing::RawRequest;
using testing::ReadResponse;
using testing::ScriptedEcho;

// A handler that throws before it answers.
class ThrowingEcho final : public examples::EchoService {
 public:
  void Echo(google::protobuf::RpcController*, const EchoRequest*, EchoResponse*, google::protobuf::Closure*) override {
    throw std::runtime_error("boom");
  }
};

constexpr const char* kEcho = "/krpc.examples.EchoService/Echo";

class HardeningTest : public ::testing::Test {
 protected:
  Server& StartServer(ServerOptions o = {}, google::protobuf::Service* service = nullptr,
                      std::shared_ptr<ServerInterceptor> interceptor = nullptr) {
    o.listen_host = "127.0.0.1";
    if (o.io_threads == 0) o.io_threads = 2;
    auto s = std::make_unique<Server>(o);
    EXPECT_TRUE(s->AddService(service ? service : &echo_).ok());
    if (interceptor) s->SetInterceptor(interceptor);
    Status st = s->Start();
    EXPECT_TRUE(st.ok()) << st;
    servers_.push_back(std::move(s));
    return *servers_.back();
  }
  std::shared_ptr<Channel> MakeChannel(const std::string& target, ChannelOptions o = {}) {
    auto ch = Channel::Create(target, o, runtime_);
    EXPECT_TRUE(ch.ok()) << ch.status();
    return ch.value();
  }
  static std::string Target(const Server& s) { return "127.0.0.1:" + std::to_string(s.port()); }
  void TearDown() override {
    for (auto& s : servers_) s->Shutdown(0ms);
  }

  ScriptedEcho echo_;
  std::vector<std::unique_ptr<Server>> servers_;
  std::shared_ptr<ClientRuntime> runtime_ = ClientRuntime::Create(2);
};


// --- client: cancel is never lost ---------------------------------------------------------

TEST_F(HardeningTest, cancel_while_waiting_for_first_provider_list_completes_cancelled) {
  // A zk:// target whose ZooKeeper never answers: the call waits for a first provider list.
  testing::RefusingPort zk;
  auto ch = MakeChannel("zk://" + zk.address() + "/krpc");
  AsyncCall c;
  c.cntl.set_timeout(60s);
  c.Start(ch.get());
  c.cntl.StartCancel();
  EXPECT_EQ(c.Get().code(), StatusCode::kCancelled) << "not after the 60 s deadline";
  EXPECT_TRUE(c.cntl.IsCanceled());
}

TEST_F(HardeningTest, cancel_during_retry_backoff_completes_cancelled) {
  ChannelOptions o;
  o.retry.backoff_base_ms = 30000;  // the retry sleeps long: the cancel must end it
  o.retry.backoff_max_ms = 30000;
  o.retry.max_attempts = 3;
  o.retry.budget_min_per_second = 1000;
  testing::RefusingPort a, b;
  auto ch = MakeChannel("static://" + a.address() + "," + b.address(), o);
  AsyncCall c;
  c.cntl.set_timeout(60s);
  c.Start(ch.get());
  ASSERT_TRUE(Eventually([&] { return ch->stats().retries >= 1; }, 60s)) << "the first attempt failed over";
  c.cntl.StartCancel();
  EXPECT_EQ(c.Get().code(), StatusCode::kCancelled);
  EXPECT_TRUE(c.cntl.IsCanceled());
}

TEST_F(HardeningTest, cancel_while_posted_to_the_io_thread_is_never_lost) {
  auto& s = StartServer();
  auto ch = MakeChannel(Target(s));
  constexpr int kCalls = 300;
  std::vector<std::unique_ptr<AsyncCall>> calls;
  for (int i = 0; i < kCalls; ++i) {
    auto c = std::make_unique<AsyncCall>();
    c->cntl.AddMetadata("delay-ms", "50");
    c->cntl.set_timeout(60s);
    c->Start(ch.get());
    c->cntl.StartCancel();  // lands in whatever state the call is in: posting, sending, in flight
    calls.push_back(std::move(c));
  }
  for (auto& c : calls) {
    EXPECT_EQ(c->Get().code(), StatusCode::kCancelled);
    EXPECT_TRUE(c->cntl.IsCanceled());
  }
}

// --- server: controller, drain, exceptions, deadlines -----------------------------------

TEST_F(HardeningTest, server_controller_cancel_flag_is_thread_safe) {
  ServerOptions o;
  o.handler_threads = 2;  // the handler reads IsCanceled() on a worker while the I/O thread cancels
  auto& s = StartServer(o);
  auto ch = MakeChannel(Target(s));
  AsyncCall c;
  c.cntl.AddMetadata("report", "canceled");
  c.cntl.AddMetadata("delay-ms", "3000");
  c.cntl.set_timeout(60s);
  c.Start(ch.get());
  ASSERT_TRUE(Eventually([&] { return echo_.calls.load() >= 1; }));
  c.cntl.StartCancel();
  EXPECT_EQ(c.Get().code(), StatusCode::kCancelled);
  EXPECT_TRUE(Eventually([&] { return echo_.canceled.load() == 1; }, 30s)) << "the handler saw the cancel";
}

TEST_F(HardeningTest, goaway_draining_transport_is_closed_by_channel_shutdown) {
  auto& s = StartServer();
  ChannelOptions o;
  o.pool.enabled = false;
  auto ch = MakeChannel(Target(s), o);
  AsyncCall c;
  c.cntl.AddMetadata("delay-ms", "5000");
  c.cntl.set_timeout(60s);
  c.Start(ch.get());
  ASSERT_TRUE(Eventually([&] { return echo_.calls.load() >= 1; }));
  auto drain = std::async(std::launch::async, [&] { return s.Shutdown(30s); });
  // The GOAWAY reached the client: its one connection left the pool but still carries the call.
  ASSERT_TRUE(Eventually([&] {
    auto e = ch->Endpoints();
    return !e.empty() && e[0].connections_active == 0 && e[0].connections_idle == 0 && e[0].inflight == 1;
  }, 30s));
  ch->Shutdown();
  EXPECT_EQ(c.Get().code(), StatusCode::kUnavailable) << "closed by Shutdown, not answered 5 s later";
  ch.reset();  // the server's late answer must not reach a freed channel (ASan)
  EXPECT_TRUE(drain.get());
}

// A completion closure that owns the last reference to its channel and runtime.
class OwningDone final : public google::protobuf::Closure {
 public:
  OwningDone(std::shared_ptr<Channel> ch, std::shared_ptr<ClientRuntime> rt) : ch_(std::move(ch)), rt_(std::move(rt)) {}
  Controller cntl;
  EchoRequest req;
  EchoResponse resp;
  std::promise<Status> done;
  void Run() override {
    Status st = cntl.status();
    auto promise = std::move(done);
    delete this;  // ~ClientRuntime runs here, on one of the runtime's own I/O threads
    promise.set_value(std::move(st));
  }

 private:
  std::shared_ptr<Channel> ch_;
  std::shared_ptr<ClientRuntime> rt_;
};

TEST_F(HardeningTest, last_runtime_reference_dropped_on_its_own_loop_does_not_self_join) {
  auto& s = StartServer();
  auto rt = ClientRuntime::Create(1);
  std::shared_ptr<Channel> ch;
  {
    auto created = Channel::Create(Target(s), {}, rt);
    ASSERT_TRUE(created.ok()) << created.status();
    ch = created.value();
  }
  auto* d = new OwningDone(ch, rt);  // deletes itself when run
  auto status = d->done.get_future();
  d->req.set_payload("x");
  EchoService_Stub(ch.get()).Echo(&d->cntl, &d->req, &d->resp, d);
  ch.reset();
  rt.reset();  // the closure now holds the only references
  ASSERT_EQ(status.wait_for(120s), std::future_status::ready);
  EXPECT_TRUE(status.get().ok()) << "completed, and the runtime stopped from its own loop without std::terminate";
}

TEST_F(HardeningTest, late_completions_after_a_drain_timeout_are_serialized) {
  GatedEcho gated;
  ServerOptions o;
  o.handler_threads = 4;
  o.io_threads = 1;
  auto& s = StartServer(o, &gated);
  ChannelOptions co;
  co.pool.enabled = false;  // one connection: its completions must not interleave
  auto ch = MakeChannel(Target(s), co);
  std::vector<std::unique_ptr<AsyncCall>> calls;
  for (int i = 0; i < 4; ++i) {
    calls.push_back(std::make_unique<AsyncCall>());
    calls.back()->cntl.set_timeout(60s);
    calls.back()->Start(ch.get());
  }
  gated.WaitRunning(4);
  auto drain = std::async(std::launch::async, [&] { return s.Shutdown(0ms); });  // times out at once
  // Only once the drain has timed out (the handlers are still held) do they complete: four
  // handler threads on the same connection, the loops stopping or stopped.
  ASSERT_TRUE(Eventually([&] { return s.stats().drain_timeouts == 1; }));
  gated.Open();
  EXPECT_FALSE(drain.get());
  for (auto& c : calls) (void)c->Get();  // answered or failed: either way, completed
}

TEST_F(HardeningTest, handler_that_throws_is_answered_internal) {
  ThrowingEcho throwing;
  auto& s = StartServer({}, &throwing);
  auto ch = MakeChannel(Target(s));
  AsyncCall c;
  c.Start(ch.get());
  const Status st = c.Get();
  EXPECT_EQ(st.code(), StatusCode::kInternal);
  EXPECT_NE(st.message().find("boom"), std::string::npos) << st;
  EXPECT_EQ(s.stats().handler_exceptions, 1u);
  EXPECT_TRUE(Eventually([&] { return s.stats().calls_inflight == 0; })) << "the call is finished, so a drain does not wait for it";
  EXPECT_TRUE(s.Shutdown(30s));
}

TEST_F(HardeningTest, huge_timeout_us_saturates_instead_of_overflowing) {
  auto& s = StartServer();
  RawClient raw(s.port());
  ASSERT_TRUE(raw.Send(RawRequest(1, kEcho, EchoBody("x"), uint64_t{1} << 63)));
  wire::ResponseHeader h;
  bool closed = false;
  ASSERT_TRUE(ReadResponse(raw, &h, &closed));
  EXPECT_EQ(h.status(), 0) << "a 2^63 us timeout is no deadline, not an expired one: " << h.message();
}

TEST_F(HardeningTest, deadline_rechecked_after_injected_delay) {
  auto faults = std::make_shared<FaultInjector>();
  FaultSpec spec;
  spec.delay_ms = 400;
  faults->Set(spec);
  auto& s = StartServer({}, nullptr, faults);
  RawClient raw(s.port());
  ASSERT_TRUE(raw.Send(RawRequest(1, kEcho, EchoBody("x"), 100000)));  // 100 ms < 400 ms delay
  wire::ResponseHeader h;
  bool closed = false;
  ASSERT_TRUE(ReadResponse(raw, &h, &closed));
  EXPECT_EQ(h.status(), static_cast<int>(StatusCode::kDeadlineExceeded)) << h.message();
  EXPECT_TRUE(h.not_executed());
  EXPECT_EQ(echo_.calls.load(), 0) << "the handler never ran";
}

TEST_F(HardeningTest, not_executed_set_on_unparsable_body) {
  auto& s = StartServer();
  RawClient raw(s.port());
  ASSERT_TRUE(raw.Send(RawRequest(1, kEcho, std::string("\xff\xff\xff", 3), 0)));
  wire::ResponseHeader h;
  bool closed = false;
  ASSERT_TRUE(ReadResponse(raw, &h, &closed));
  EXPECT_EQ(h.status(), static_cast<int>(StatusCode::kInvalidArgument));
  EXPECT_TRUE(h.not_executed());
}

TEST_F(HardeningTest, cancelled_hung_call_stops_counting_against_max_inflight) {
  auto faults = std::make_shared<FaultInjector>();
  FaultSpec hang;
  hang.hang = true;
  faults->Set(hang);
  ServerOptions o;
  o.max_inflight = 1;
  auto& s = StartServer(o, nullptr, faults);
  auto ch = MakeChannel(Target(s));
  AsyncCall c;
  c.cntl.set_timeout(60s);
  c.Start(ch.get());
  ASSERT_TRUE(Eventually([&] { return s.stats().calls_inflight == 1; }));
  c.cntl.StartCancel();
  EXPECT_EQ(c.Get().code(), StatusCode::kCancelled);
  EXPECT_TRUE(Eventually([&] { return s.stats().calls_inflight == 0; })) << "the CANCEL freed its slot";
  faults->Clear();
  AsyncCall next;
  next.Start(ch.get());
  EXPECT_TRUE(next.Get().ok()) << "max_inflight=1 is free again";
}

// --- client: metadata, consistent hash -----------------------------------------------------

TEST_F(HardeningTest, metadata_over_header_limit_fails_only_that_call) {
  auto& s = StartServer();
  ChannelOptions o;
  o.pool.enabled = false;
  auto ch = MakeChannel(Target(s), o);
  AsyncCall slow;
  slow.cntl.AddMetadata("delay-ms", "300");
  slow.Start(ch.get());
  AsyncCall big;
  big.cntl.AddMetadata("x-big", std::string(70 * 1024, 'm'));
  big.Start(ch.get());
  EXPECT_EQ(big.Get().code(), StatusCode::kResourceExhausted);
  EXPECT_TRUE(slow.Get().ok()) << "the shared connection survived";
  EXPECT_EQ(s.stats().frame_errors, 0u);
  EXPECT_EQ(s.stats().connections_accepted, 1u);
}

TEST_F(HardeningTest, consistent_hash_without_request_key_spreads_calls) {
  auto& a = StartServer();
  auto& b = StartServer();
  auto& c = StartServer();
  ChannelOptions o;
  o.load_balancer = "consistent_hash";
  auto ch = MakeChannel("static://" + Target(a) + "," + Target(b) + "," + Target(c), o);
  std::set<std::string> reached;
  for (int i = 0; i < 300; ++i) {
    AsyncCall call;
    call.Start(ch.get());
    ASSERT_TRUE(call.Get().ok());
    reached.insert(call.cntl.remote());
  }
  EXPECT_GE(reached.size(), 2u) << "keyless calls are not all sent to the owner of key 0";
  std::set<std::string> keyed;
  for (int i = 0; i < 50; ++i) {
    AsyncCall call;
    call.cntl.set_request_key(42);
    call.Start(ch.get());
    ASSERT_TRUE(call.Get().ok());
    keyed.insert(call.cntl.remote());
  }
  EXPECT_EQ(keyed.size(), 1u) << "a key still maps to one endpoint";
}

// --- server: accept errors, frames, memory ---------------------------------------------------

int OpenFds() {
  int n = 0;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (::readdir(d)) ++n;
    ::closedir(d);
  }
  return n - 2;
}

TEST_F(HardeningTest, accept_errors_back_off_instead_of_busy_looping) {
  auto& s = StartServer();
  rlimit old{};
  ::getrlimit(RLIMIT_NOFILE, &old);
  // Leave room for exactly the client sockets below: the server's accept() gets EMFILE.
  constexpr int kClients = 4;
  rlimit tight = old;
  tight.rlim_cur = static_cast<rlim_t>(OpenFds() + kClients + 1);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &tight), 0);
  std::vector<std::unique_ptr<RawClient>> clients;
  for (int i = 0; i < kClients; ++i) clients.push_back(std::make_unique<RawClient>(s.port()));
  const bool saw = Eventually([&] { return s.stats().accept_errors >= 1; }, 30s);
  const uint64_t first = s.stats().accept_errors;
  std::this_thread::sleep_for(500ms);  // load window, not ordering: count the retries within it
  const uint64_t in_window = s.stats().accept_errors - first;
  ::setrlimit(RLIMIT_NOFILE, &old);
  ASSERT_TRUE(saw) << "accept() failed with EMFILE";
  EXPECT_LT(in_window, 50u) << "retries back off (a busy loop makes thousands)";
  EXPECT_TRUE(Eventually([&] { return s.stats().connections_accepted >= 1; }, 30s)) << "accepting resumes";
}

TEST_F(HardeningTest, partial_frame_must_complete_within_frame_timeout) {
  ServerOptions o;
  o.frame_timeout_ms = 300;
  o.heartbeat_interval_ms = 5000;
  auto& s = StartServer(o);
  RawClient raw(s.port());
  const std::string frame = RawRequest(1, kEcho, EchoBody(std::string(1000, 'p')), 0);
  bool closed = false;
  // A peer that trickles one byte at a time never lets the idle kick fire.
  for (size_t i = 0; i < frame.size() - 1 && !closed; ++i) {
    if (!raw.Send(frame.substr(i, 1))) break;
    raw.Read(20ms, &closed);
  }
  EXPECT_TRUE(closed || Eventually([&] { return s.stats().frame_errors >= 1; }, 30s));
  EXPECT_GE(s.stats().frame_errors, 1u) << "closed for frame_timeout";
  EXPECT_EQ(s.stats().idle_closed, 0u);
}

TEST_F(HardeningTest, memory_held_only_for_received_bytes_of_declared_frames) {
  ServerOptions o;
  o.max_body_bytes = 8u << 20;
  auto& s = StartServer(o);
  std::string prefix(codec::kPrefixSize, '\0');
  std::vector<char> f;
  codec::AppendRawFrame(f, codec::FrameType::kRequest, "", "");
  std::memcpy(prefix.data(), f.data(), codec::kPrefixSize);
  // Rewrite the frame length to announce a 4 MiB body that is never sent.
  const uint32_t len = htonl(4u << 20);
  std::memcpy(prefix.data() + 8, &len, 4);
  constexpr int kConns = 50;
  std::vector<std::unique_ptr<RawClient>> conns;
  for (int i = 0; i < kConns; ++i) {
    conns.push_back(std::make_unique<RawClient>(s.port()));
    ASSERT_TRUE(conns.back()->Send(prefix));
  }
  ASSERT_TRUE(Eventually([&] { return s.stats().pending_frame_bytes >= kConns * codec::kPrefixSize; }, 30s));
  EXPECT_LE(s.stats().pending_frame_bytes, kConns * 8u * 1024) << "not 50 x 4 MiB";
  conns.clear();
  EXPECT_TRUE(Eventually([&] { return s.stats().pending_frame_bytes == 0; }, 30s)) << "given back on close";
}

TEST_F(HardeningTest, partial_frames_over_the_node_budget_close_the_connection) {
  ServerOptions o;
  o.max_body_bytes = 8u << 20;
  o.max_pending_frame_bytes = 1 << 20;
  auto& s = StartServer(o);
  const std::string frame = RawRequest(1, kEcho, EchoBody(std::string(4u << 20, 'b')), 0);
  std::vector<std::unique_ptr<RawClient>> conns;
  for (int i = 0; i < 3; ++i) {
    conns.push_back(std::make_unique<RawClient>(s.port()));
    conns.back()->Send(frame.substr(0, 700 * 1024));  // may fail once the server closed it
  }
  EXPECT_TRUE(Eventually([&] { return s.stats().frame_errors >= 1; }, 30s)) << "over budget: closed, counted";
  EXPECT_LE(s.stats().pending_frame_bytes, size_t{1} << 20);
}

}  // namespace
}  // namespace krpc
