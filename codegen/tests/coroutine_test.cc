// Typed coroutine stubs and coroutine handlers (protoc-gen-krpc) against real servers over
// loopback: results and every status code, deadlines, cancellation (CANCEL reaches the server),
// many concurrent calls, a handler that awaits a downstream call within its deadline, and the
// generic stubs and services on the same wire.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "eventually.h"
#include "examples/echo.krpc.h"
#include "examples/echo.pb.h"
#include "krpc/channel.h"
#include "krpc/client_runtime.h"
#include "krpc/server.h"
#include "krpc/task.h"
#include "test_services.h"

namespace krpc {
namespace {
using namespace std::chrono_literals;
using examples::EchoRequest;
using examples::EchoResponse;
using examples::EchoServiceBase;
using examples::EchoServiceClient;

// Resumes the awaiting coroutine after `delay` on the Delayer's thread.
struct Sleep {
  testing::Delayer& delayer;
  std::chrono::milliseconds delay;
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) { delayer.After(delay, [h] { h.resume(); }); }
  void await_resume() const noexcept {}
};

// Resumes when the call is cancelled by its client (NotifyOnCancel).
struct UntilCanceled {
  ServerController& ctx;
  struct Resume : google::protobuf::Closure {
    std::coroutine_handle<> h;
    void Run() override { h.resume(); }
  } resume;
  bool await_ready() const noexcept { return ctx.IsCanceled(); }
  void await_suspend(std::coroutine_handle<> h) {
    resume.h = h;
    ctx.NotifyOnCancel(&resume);
  }
  void await_resume() const noexcept {}
};

// A coroutine EchoService steered by the payload: "code:N" fails with status N, "sleep:MS"
// answers after MS, "hang" waits for cancellation, "throw" throws, "down:PORT" calls Echo on
// another server (asking it to report the deadline it got) and answers with its reply.
class CoroEcho final : public EchoServiceBase {
 public:
  Task<Status> Echo(ServerController& ctx, const EchoRequest& req, EchoResponse& resp) override {
    calls.fetch_add(1);
    const std::string& p = req.payload();
    if (p.starts_with("code:")) co_return Status(StatusCodeFromInt(std::stoi(p.substr(5))), "as asked");
    if (p.starts_with("sleep:")) {
      co_await Sleep{delayer, std::chrono::milliseconds(std::stoi(p.substr(6)))};
      slept.fetch_add(1);
    }
    if (p == "hang") {
      co_await UntilCanceled{ctx, {}};
      canceled.fetch_add(1);
      co_return Status(StatusCode::kCancelled, "client cancelled");
    }
    if (p == "throw") throw std::runtime_error("boom");
    if (p.starts_with("down:")) {
      Controller down;
      down.set_deadline(ctx.deadline());  // deadline propagation
      down.AddMetadata("report", "deadline");
      EchoRequest dreq;
      dreq.set_payload("x");
      auto r = co_await downstream->Echo(down, dreq);
      if (!r.ok()) co_return r.status();
      resp.set_payload(r->payload());
      co_return Status::Ok();
    }
    resp.set_payload(p);
    co_return Status::Ok();
  }
  std::atomic<int> calls{0};
  std::atomic<int> canceled{0};
  std::atomic<int> slept{0};
  std::shared_ptr<EchoServiceClient> downstream;
  testing::Delayer delayer;
};

std::unique_ptr<Server> Serve(google::protobuf::Service* service) {
  ServerOptions o;
  o.listen_host = "127.0.0.1";
  o.io_threads = 2;
  auto server = std::make_unique<Server>(o);
  EXPECT_TRUE(server->AddService(service).ok());
  EXPECT_TRUE(server->Start().ok());
  return server;
}

class CoroutineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = Serve(&echo_);
    auto ch = Channel::Create("127.0.0.1:" + std::to_string(server_->port()), {}, runtime_);
    ASSERT_TRUE(ch.ok()) << ch.status();
    channel_ = ch.value();
    client_ = std::make_unique<EchoServiceClient>(channel_);
  }
  void TearDown() override { server_->Shutdown(0ms); }

  Task<StatusOr<EchoResponse>> Call(std::string payload, std::chrono::milliseconds timeout = 5s) {
    Controller ctx;
    ctx.set_timeout(timeout);
    EchoRequest req;
    req.set_payload(std::move(payload));
    co_return co_await client_->Echo(ctx, req);
  }

  CoroEcho echo_;
  std::unique_ptr<Server> server_;
  std::shared_ptr<ClientRuntime> runtime_ = ClientRuntime::Create(2);
  std::shared_ptr<Channel> channel_;
  std::unique_ptr<EchoServiceClient> client_;
};

TEST(TaskTest, nested_tasks_values_and_exceptions) {
  auto leaf = [](int v) -> Task<int> { co_return v * 2; };
  auto mid = [&](int v) -> Task<int> { co_return co_await leaf(v) + co_await leaf(1); };
  EXPECT_EQ(SyncWait(mid(20)), 42);
  auto thrower = []() -> Task<void> {
    throw std::runtime_error("inner");
    co_return;
  };
  auto outer = [&]() -> Task<std::string> {
    try {
      co_await thrower();
    } catch (const std::runtime_error& e) {
      co_return std::string("caught ") + e.what();
    }
    co_return std::string("not thrown");
  };
  EXPECT_EQ(SyncWait(outer()), "caught inner");
  EXPECT_THROW(SyncWait(thrower()), std::runtime_error);
  // A chain of awaits (no co_await inside ?: : GCC 12 evaluates both branches).
  std::function<Task<int>(int)> chain = [&](int n) -> Task<int> {
    if (n == 0) co_return 0;
    co_return 1 + co_await chain(n - 1);
  };
  EXPECT_EQ(SyncWait(chain(1000)), 1000);
}

TEST_F(CoroutineTest, call_returns_the_response) {
  auto r = SyncWait(Call("hello"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->payload(), "hello");
  // Without a controller: the channel's defaults.
  EchoRequest req;
  req.set_payload("plain");
  auto plain = SyncWait([&]() -> Task<StatusOr<EchoResponse>> { co_return co_await client_->Echo(req); }());
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(plain->payload(), "plain");
}

TEST_F(CoroutineTest, every_status_code_a_handler_returns_reaches_the_caller) {
  for (int code = 1; code <= 16; ++code) {
    auto r = SyncWait(Call("code:" + std::to_string(code)));
    ASSERT_FALSE(r.ok()) << code;
    EXPECT_EQ(static_cast<int>(r.status().code()), code) << r.status();
    EXPECT_EQ(r.status().message(), "as asked");
  }
}

TEST_F(CoroutineTest, handler_exception_is_internal) {
  auto r = SyncWait(Call("throw"));
  EXPECT_EQ(r.status().code(), StatusCode::kInternal) << r.status();
  EXPECT_NE(r.status().message().find("boom"), std::string::npos) << r.status();
}

TEST_F(CoroutineTest, deadline_exceeded_while_the_handler_sleeps) {
  auto r = SyncWait(Call("sleep:500", 50ms));
  EXPECT_EQ(r.status().code(), StatusCode::kDeadlineExceeded) << r.status();
  // The handler still finishes (its answer is dropped) while the server is up.
  EXPECT_TRUE(testing::Eventually([&] { return echo_.slept.load() == 1; }));
}

TEST_F(CoroutineTest, cancelled_call_returns_cancelled_and_the_server_is_told) {
  Controller ctx;
  ctx.set_timeout(30s);
  EchoRequest req;
  req.set_payload("hang");
  std::atomic<bool> started{false};
  std::thread canceller([&] {
    while (echo_.calls.load() == 0) std::this_thread::yield();  // the handler is running
    started = true;
    ctx.StartCancel();
  });
  auto r = SyncWait([&]() -> Task<StatusOr<EchoResponse>> { co_return co_await client_->Echo(ctx, req); }());
  canceller.join();
  EXPECT_TRUE(started);
  EXPECT_EQ(r.status().code(), StatusCode::kCancelled) << r.status();
  EXPECT_TRUE(testing::Eventually([&] { return echo_.canceled.load() == 1; })) << "the CANCEL frame reached the handler";
}

TEST_F(CoroutineTest, many_concurrent_coroutine_calls) {
  constexpr int kCalls = 2000;
  std::atomic<int> ok{0}, done{0};
  for (int i = 0; i < kCalls; ++i) {
    Spawn(Call("p" + std::to_string(i)), [&, i](std::optional<StatusOr<EchoResponse>> r, std::exception_ptr) {
      if (r && r->ok() && (*r)->payload() == "p" + std::to_string(i)) ok.fetch_add(1);
      done.fetch_add(1);
    });
  }
  ASSERT_TRUE(testing::Eventually([&] { return done.load() == kCalls; }, 60s));
  EXPECT_EQ(ok.load(), kCalls);
}

TEST_F(CoroutineTest, handler_awaits_a_downstream_call_within_its_deadline) {
  testing::ScriptedEcho back;  // a generic (callback) service: both kinds interoperate
  auto back_server = Serve(&back);
  auto back_channel = Channel::Create("127.0.0.1:" + std::to_string(back_server->port()), {}, runtime_);
  ASSERT_TRUE(back_channel.ok());
  echo_.downstream = std::make_shared<EchoServiceClient>(back_channel.value());
  auto r = SyncWait(Call("down:", 800ms));
  ASSERT_TRUE(r.ok()) << r.status();
  const long remaining_us = std::stol(r->payload());
  EXPECT_GT(remaining_us, 0);
  EXPECT_LE(remaining_us, 800'000) << "the downstream call carried the caller's deadline";
  EXPECT_EQ(back.calls.load(), 1);
  back_server->Shutdown(0ms);
}

TEST_F(CoroutineTest, generic_stub_calls_a_coroutine_service) {
  examples::EchoService_Stub stub(channel_.get());
  Controller cntl;
  EchoRequest req;
  req.set_payload("generic");
  EchoResponse resp;
  stub.Echo(&cntl, &req, &resp, nullptr);
  ASSERT_TRUE(cntl.status().ok()) << cntl.status();
  EXPECT_EQ(resp.payload(), "generic");
}

}  // namespace
}  // namespace krpc
