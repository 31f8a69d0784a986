// Overload, end to end over loopback with real servers and channels: an adaptive limit
// refuses at once (RESOURCE_EXHAUSTED, not executed, with a retry pushback) instead of
// queueing; a client moves a refused call to an endpoint with room, waits for or obeys the
// pushback, never writes a request whose deadline passed while it waited for room, and writes
// the newest first when that queue stands. Every test waits on counters or on its calls' ends;
// one ages a waiting request on purpose, with an outcome that holds however long it waits.
#include <gtest/gtest.h>

#include <future>
#include <memory>
#include <thread>
#include <vector>

#include "async_call.h"
#include "echo_service.h"
#include "eventually.h"
#include "examples/echo.pb.h"
#include "krpc/channel.h"
#include "krpc/client_metrics.h"
#include "krpc/client_runtime.h"
#include "krpc/metrics.h"
#include "krpc/codec/frame.h"
#include "krpc/server.h"
#include "test_services.h"

namespace krpc {
namespace {
using namespace std::chrono_literals;
using testing::AsyncCall;
using testing::GatedEcho;

constexpr const char* kEcho = "/krpc.examples.EchoService/Echo";


std::string PushbackOf(const Controller& c) {
  for (const auto& [k, v] : c.response_metadata()) {
    if (k == codec::kRetryPushbackKey) return v;
  }
  return "";
}

class OverloadTest : public ::testing::Test {
 protected:
  Server& StartServer(ServerOptions o, google::protobuf::Service* service) {
    o.listen_host = "127.0.0.1";
    if (o.io_threads == 0) o.io_threads = 1;
    auto s = std::make_unique<Server>(o);
    EXPECT_TRUE(s->AddService(service).ok());
    Status st = s->Start();
    EXPECT_TRUE(st.ok()) << st;
    servers_.push_back(std::move(s));
    return *servers_.back();
  }
  std::shared_ptr<Channel> MakeChannel(const std::string& target, ChannelOptions o = {}) {
    o.hedging.enabled = false;
    auto ch = Channel::Create(target, o, runtime_);
    EXPECT_TRUE(ch.ok()) << ch.status();
    return ch.value();
  }
  static std::string Addr(const Server& s) { return "127.0.0.1:" + std::to_string(s.port()); }
  // One handler thread: the node runs calls in the order they were written.
  static ServerOptions OneHandlerThread() {
    ServerOptions o;
    o.handler_threads = 1;
    return o;
  }
  // A channel of one connection (nothing spreads waiting requests elsewhere) holding at most
  // 64 KiB unanswered, filled by `first` (a `big` call that `held` keeps running): what is
  // called next waits unwritten.
  std::shared_ptr<Channel> OneFullConnection(const Server& server, WireProtocol protocol, const std::string& big,
                                             GatedEcho& held, AsyncCall& first) {
    ChannelOptions co;
    co.retry.max_attempts = 1;
    co.breaker.enabled = false;
    co.pool.enabled = false;
    co.connection.protocol = protocol;
    co.connection.max_queued_request_bytes = 64 * 1024;
    auto ch = MakeChannel(Addr(server), co);
    first.req.set_payload(big);
    first.Start(ch.get());
    held.WaitRunning(1);
    return ch;
  }
  void TearDown() override {
    for (auto& s : servers_) s->Shutdown(0ms);
  }

  std::vector<std::unique_ptr<Server>> servers_;
  std::shared_ptr<ClientRuntime> runtime_ = ClientRuntime::Create(2);
};

// Many more calls than one handler thread can run at once (1 ms of CPU each): the adaptive
// limit admits a few and refuses the rest at once, each refusal saying it never ran and
// carrying the node's pushback; the node's counters match what the callers saw.
TEST_F(OverloadTest, an_adaptive_limit_refuses_the_excess_at_once_with_a_pushback) {
  examples::EchoServiceImpl echo;
  ServerOptions o;
  o.handler_threads = 1;
  o.max_inflight_auto = true;
  o.overload_pushback_ms = 25;
  Server& server = StartServer(o, &echo);
  ChannelOptions co;
  co.retry.max_attempts = 1;
  co.breaker.enabled = false;  // no health probes: every call the node sees is the test's
  auto ch = MakeChannel(Addr(server), co);
  constexpr int kWide = 40;
  int ok = 0, refused = 0;
  // Waves of kWide calls at once, until the limit has measured the no-load latency (its first
  // window) and then for 10 more waves.
  int waves_after = -1;
  for (int w = 0; w < 100000 && waves_after < 10; ++w) {
    if (waves_after >= 0 || server.stats().adaptive_min_latency_us > 0) ++waves_after;
    std::vector<std::unique_ptr<AsyncCall>> calls;
    for (int i = 0; i < kWide; ++i) {
      calls.push_back(std::make_unique<AsyncCall>());
      calls.back()->req.set_cpu_us(1000);
      calls.back()->Start(ch.get(), 30s);
    }
    for (auto& c : calls) {
      const Status s = c->Get();
      if (s.ok()) {
        ++ok;
      } else {
        ASSERT_EQ(s.code(), StatusCode::kResourceExhausted) << s;
        EXPECT_EQ(PushbackOf(c->cntl), "25");
        EXPECT_NE(s.message().find("adaptive limit"), std::string::npos) << s;
        EXPECT_EQ(c->cntl.attempts(), 1);
        ++refused;
      }
    }
  }
  EXPECT_GT(ok, 0);
  EXPECT_GT(refused, 0);  // 40 at once against a limit of a few calls
  const ServerStats st = server.stats();
  EXPECT_EQ(st.overload_refused, static_cast<uint64_t>(refused));
  EXPECT_GE(st.adaptive_limit, o.auto_limit.min);
  EXPECT_LT(st.adaptive_limit, kWide);
  EXPECT_GT(st.adaptive_min_latency_us, 0);
}

// A refusal for overload goes at once to another endpoint with room (a transparent retry:
// it never ran), so a caller of two endpoints, one of them full, sees no failure.
TEST_F(OverloadTest, a_refused_call_moves_to_an_endpoint_with_room) {
  GatedEcho held("hold");  // holds the one slot of `full`'s Echo
  examples::EchoServiceImpl echo;
  ServerOptions limited;
  limited.handler_threads = 2;
  limited.method_max_inflight = std::string(kEcho) + "=1";
  Server& full = StartServer(limited, &held);
  Server& roomy = StartServer({}, &echo);
  auto direct = MakeChannel(Addr(full));
  AsyncCall hold;
  hold.req.set_payload("hold");
  hold.Start(direct.get(), 30s);
  held.WaitRunning(1);

  Metrics metrics;
  runtime_->SetObserver(std::make_shared<ClientMetrics>(metrics, runtime_));
  auto ch = MakeChannel("static://" + Addr(full) + "," + Addr(roomy));
  for (int i = 0; i < 30; ++i) {
    AsyncCall c;
    c.req.set_payload("x");
    c.Start(ch.get(), 30s);
    ASSERT_TRUE(c.Get().ok()) << c.cntl.ErrorText();
  }
  const uint64_t refusals = full.stats().overload_refused;
  EXPECT_GT(refusals, 0u);  // p2c tried the full endpoint at least once in 30 picks
  EXPECT_EQ(ch->stats().transparent_retries, refusals);
  EXPECT_EQ(ch->stats().pushbacks, refusals);
  const std::string text = metrics.Serialize();
  EXPECT_NE(text.find("krpc_client_pushbacks_total{method=\"Echo\",service=\"krpc.examples.EchoService\"} " +
                      std::to_string(refusals) + "\n"),
            std::string::npos)
      << text;
  held.Open();
  EXPECT_TRUE(hold.Get().ok());
}

// overload_pushback_ms = -1 tells clients not to retry: the call fails with the refusal
// although another endpoint was untried; with a pushback of 0 it is tried there.
TEST_F(OverloadTest, a_negative_pushback_forbids_the_retry) {
  for (int pushback : {-1, 0}) {
    SCOPED_TRACE(pushback);
    ServerOptions o;
    o.handler_threads = 2;
    o.method_max_inflight = std::string(kEcho) + "=1";
    o.overload_pushback_ms = pushback;
    GatedEcho a("hold"), b("hold");
    Server& sa = StartServer(o, &a);
    Server& sb = StartServer(o, &b);
    AsyncCall hold_a, hold_b;
    auto da = MakeChannel(Addr(sa)), db = MakeChannel(Addr(sb));
    hold_a.req.set_payload("hold");
    hold_b.req.set_payload("hold");
    hold_a.Start(da.get());
    hold_b.Start(db.get());
    a.WaitRunning(1);
    b.WaitRunning(1);
    ChannelOptions co;
    co.retry.max_attempts = 3;
    auto ch = MakeChannel("static://" + Addr(sa) + "," + Addr(sb), co);
    AsyncCall c;
    c.req.set_payload("x");
    c.Start(ch.get());
    EXPECT_EQ(c.Get().code(), StatusCode::kResourceExhausted);
    EXPECT_EQ(c.cntl.attempts(), pushback < 0 ? 1 : 2);
    a.Open();
    b.Open();
    EXPECT_TRUE(hold_a.Get().ok());
    EXPECT_TRUE(hold_b.Get().ok());
    for (auto& s : servers_) s->Shutdown(0ms);
    servers_.clear();  // before the services they call go
  }
}

// A client whose connection holds max_queued_request_bytes unanswered keeps further requests
// unencoded; one whose deadline passes meanwhile is never written (the node never sees it).
TEST_F(OverloadTest, a_request_that_expires_while_waiting_for_room_is_never_written) {
  for (WireProtocol protocol : {WireProtocol::kKrpc, WireProtocol::kGrpc}) {
    SCOPED_TRACE(std::string(ToString(protocol)));
    const std::string big(100 * 1024, 'h');
    GatedEcho held(big);  // the 100 KiB call is not answered until Open()
    AsyncCall first;
    Server& server = StartServer(OneHandlerThread(), &held);
    auto ch = OneFullConnection(server, protocol, big, held, first);
    std::vector<std::unique_ptr<AsyncCall>> waiting;
    for (int i = 0; i < 3; ++i) {
      waiting.push_back(std::make_unique<AsyncCall>());
      waiting.back()->req.set_payload("small");
      waiting.back()->Start(ch.get(), 100ms);
    }
    for (auto& c : waiting) {
      const Status s = c->Get();
      EXPECT_EQ(s.code(), StatusCode::kDeadlineExceeded) << s;
      EXPECT_NE(s.message().find("before the request was written"), std::string::npos) << s;
    }
    EXPECT_EQ(server.stats().calls_total, 1u);  // only the first request reached the node
    held.Open();
    EXPECT_TRUE(first.Get().ok());
    ch->Shutdown();
    for (auto& sv : servers_) sv->Shutdown(0ms);
    servers_.clear();  // before the service it calls goes
  }
}

// Requests waiting for room go out oldest first while the oldest still has more time left than
// it has waited; once it has not (a standing queue), newest first, so what is written can be
// answered in time and the oldest expire unsent, instead of every call arriving just too late.
TEST_F(OverloadTest, a_standing_queue_writes_the_newest_first) {
  for (bool standing : {false, true}) {
    SCOPED_TRACE(standing ? "standing queue" : "queue with time to spare");
    const std::string big(100 * 1024, 'h');
    GatedEcho held(big);
    AsyncCall first;
    Server& server = StartServer(OneHandlerThread(), &held);
    auto ch = OneFullConnection(server, WireProtocol::kKrpc, big, held, first);
    AsyncCall old, new1, new2;
    old.req.set_payload("old");
    new1.req.set_payload("new1");
    new2.req.set_payload("new2");
    const auto t0 = std::chrono::steady_clock::now();
    old.Start(ch.get(), standing ? 1000ms : 60000ms);
    new1.Start(ch.get(), 60000ms);
    new2.Start(ch.get(), 60000ms);
    // Ages the oldest past half its deadline; this orders nothing: a longer stall only ages it
    // more (and if it expires unsent, it still is not written before the others).
    if (standing) std::this_thread::sleep_until(t0 + 600ms);
    held.Open();
    ASSERT_TRUE(first.Get().ok());
    EXPECT_TRUE(new1.Get().ok());
    EXPECT_TRUE(new2.Get().ok());
    const Status old_status = old.Get();
    std::vector<std::string> order = held.seen();
    order.erase(order.begin());  // the big one
    if (standing) {
      const std::vector<std::string> newest_first{"new2", "new1", "old"};
      if (old_status.ok()) {
        EXPECT_EQ(order, newest_first);
      } else {  // a stall beyond its deadline: expired unsent
        EXPECT_NE(old_status.message().find("before the request was written"), std::string::npos) << old_status;
        EXPECT_EQ(order, std::vector<std::string>(newest_first.begin(), newest_first.end() - 1));
      }
    } else {
      EXPECT_TRUE(old_status.ok()) << old_status;
      EXPECT_EQ(order, (std::vector<std::string>{"old", "new1", "new2"}));
    }
    ch->Shutdown();
    for (auto& sv : servers_) sv->Shutdown(0ms);
    servers_.clear();
  }
}

// A cancelled call's end is when its client gave up (a per-try timeout, a hedge that lost),
// not how long its handler takes: it must not teach early refusal to refuse every call whose
// budget is that timeout.
// Holds every call until Open(); counts the handlers that replied (after `done`, so it must
// outlive the server: the test shuts the server down before it goes).
class CountingGate final : public examples::EchoService {
 public:
  void Echo(google::protobuf::RpcController*, const examples::EchoRequest* req, examples::EchoResponse* resp,
            google::protobuf::Closure* done) override {
    std::unique_lock lock(mu_);
    ++running_;
    cv_.notify_all();
    cv_.wait(lock, [&] { return open_; });
    lock.unlock();
    resp->set_payload(req->payload());
    done->Run();  // the reply (or, for a cancelled call, its end) is posted to the node's loop
    lock.lock();
    ++replied_;
    cv_.notify_all();
  }
  void WaitRunning(int n) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return running_ >= n; });
  }
  void WaitReplied(int n) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return replied_ >= n; });
  }
  void Open() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int running_ = 0, replied_ = 0;
  bool open_ = false;
};

TEST_F(OverloadTest, cancelled_calls_do_not_count_as_handler_time) {
  constexpr int kCalls = 16;  // ServiceTime::kWarmSamples: enough for early refusal to act
  CountingGate held;
  ServerOptions o;
  o.handler_threads = kCalls;
  Server& server = StartServer(o, &held);
  ChannelOptions co;
  co.retry.max_attempts = 1;
  co.breaker.enabled = false;
  auto ch = MakeChannel(Addr(server), co);
  std::vector<std::unique_ptr<AsyncCall>> calls;
  for (int i = 0; i < kCalls; ++i) {
    calls.push_back(std::make_unique<AsyncCall>());
    calls.back()->req.set_payload("hold");
    calls.back()->Start(ch.get(), 100ms);
  }
  held.WaitRunning(kCalls);
  for (auto& c : calls) EXPECT_EQ(c->Get().code(), StatusCode::kDeadlineExceeded);  // cancelled at 100 ms
  held.Open();                  // the cancelled handlers end now, long after their clients gave up
  held.WaitReplied(kCalls);     // their ends are queued on the node's loop before what follows
  AsyncCall tight;
  tight.req.set_payload("tight");
  tight.Start(ch.get(), 60ms);  // far above Echo's real time, below the cancelled calls' 100+ ms
  const Status st = tight.Get();
  EXPECT_EQ(st.message().find("below the median handler time"), std::string::npos) << st;
  EXPECT_EQ(server.stats().early_refused, 0u);
  ch->Shutdown();
  for (auto& sv : servers_) sv->Shutdown(0ms);
  servers_.clear();  // its handler threads are done before `held` goes
}

}  // namespace
}  // namespace krpc
