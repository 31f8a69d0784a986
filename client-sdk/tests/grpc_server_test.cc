// The krpc SDK calling servers built with gRPC's own C++ library (Debian's libgrpc++, a
// test-only dependency) over gRPC (ChannelOptions::connection.protocol = "grpc"): statically
// and through ZooKeeper discovery, with load balancing, breakers, retries and health probes
// (gRPC's standard health service), including a gRPC server killed mid-run.
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/impl/codegen/method_handler.h>
#include <grpcpp/impl/codegen/proto_utils.h>
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "examples/echo.pb.h"
#include "grpc_echo.h"
#include "examples/user.pb.h"
#include "krpc/config.h"
#include "krpc/channel.h"
#include "krpc/controller.h"
#include "krpc/registry_publisher.h"
#include "krpc/zk_client.h"
#include "test_nodes.h"
#include "zk_server.h"
#include "eventually.h"

#include <signal.h>

namespace krpc {
namespace {
using namespace std::chrono_literals;
using examples::EchoRequest;
using examples::EchoResponse;
constexpr const char* kEcho = "krpc.examples.EchoService";

using testing::GrpcEcho;

struct GrpcNode {
  GrpcEcho service;
  std::unique_ptr<grpc::Server> server;
  int port = 0;
  std::unique_ptr<RegistryPublisher> publisher;
  void Start() {
    grpc::EnableDefaultHealthCheckService(true);
    grpc::ServerBuilder b;
    b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    b.RegisterService(&service);
    server = b.BuildAndStart();
    ASSERT_TRUE(server) << "gRPC server did not start";
    ASSERT_GT(port, 0);
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port); }
};

ChannelOptions GrpcOptions() {
  ChannelOptions o;
  o.connection.protocol = WireProtocol::kGrpc;
  o.reconnect.initial_ms = 50;
  return o;
}

Status EchoCall(Channel* ch, const std::string& payload, EchoResponse* resp, std::map<std::string, std::string> md = {},
                std::chrono::milliseconds timeout = 5s) {
  examples::EchoService_Stub stub(ch);
  Controller cntl;
  cntl.set_timeout(timeout);
  for (auto& [k, v] : md) cntl.AddMetadata(k, v);
  EchoRequest req;
  req.set_payload(payload);
  stub.Echo(&cntl, &req, resp, nullptr);
  return cntl.status();
}

TEST(GrpcServerTest, the_sdk_calls_a_grpc_cpp_server_with_payloads_metadata_codes_and_deadlines) {
  GrpcNode node;
  node.Start();
  auto ch = Channel::Create(node.address(), GrpcOptions());
  ASSERT_TRUE(ch.ok()) << ch.status();
  // Up to 1 MiB: under TSan, gRPC's uninstrumented memcpy of large buffers is costly to check.
  for (size_t size : {size_t{0}, size_t{10}, size_t{100000}, size_t{1} << 20}) {
    EchoResponse resp;
    const std::string payload(size, 'k');
    const Status st = EchoCall(ch.value().get(), payload, &resp, {}, 120s);  // sanitized builds are slow
    ASSERT_TRUE(st.ok()) << size << ": " << st;
    EXPECT_EQ(resp.payload(), payload);
  }
  EchoResponse resp;
  ASSERT_TRUE(EchoCall(ch.value().get(), "metadata", &resp, {{"x-value", "sent by krpc"}}).ok());
  EXPECT_EQ(resp.payload(), "sent by krpc");
  const Status failed = EchoCall(ch.value().get(), "x", &resp, {{"fail-code", "7"}});
  EXPECT_EQ(failed.code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(failed.message(), "failed on request");
  EXPECT_EQ(EchoCall(ch.value().get(), "x", &resp, {{"sleep-ms", "1500"}}, 200ms).code(), StatusCode::kDeadlineExceeded);
  // An unknown method on a gRPC server: UNIMPLEMENTED, from the server.
  examples::UserService_Stub users(ch.value().get());
  Controller cntl;
  examples::LoginRequest lreq;
  examples::LoginResponse lresp;
  users.Login(&cntl, &lreq, &lresp, nullptr);
  EXPECT_EQ(cntl.code(), StatusCode::kUnimplemented);
  node.server->Shutdown();
}

// Three gRPC C++ server processes found through ZooKeeper; one is killed with SIGKILL while
// calls flow (its connections just end): no idempotent call fails.
TEST(GrpcServerTest, grpc_servers_found_in_zookeeper_lose_no_idempotent_call_when_one_is_killed) {
  testing::ZkServer zk;
  ASSERT_TRUE(zk.Start()) << "ZooKeeper did not start";
  auto zk_client = std::make_shared<ZkClient>(ZkOptions{zk.hosts(), 10000, ""});
  ASSERT_TRUE(zk_client->Start().ok());
  testing::ChildProcess servers[3];
  std::unique_ptr<RegistryPublisher> publishers[3];
  std::string addresses[3];
  for (int i = 0; i < 3; ++i) {
    const uint16_t port = testing::FreePort();
    testing::SpawnQuiet(GRPC_ECHO_SERVER_BIN, {std::to_string(port)}, &servers[i]);
    addresses[i] = "127.0.0.1:" + std::to_string(port);
    // Registered once it answers (through the SDK's gRPC transport, statically).
    auto direct = Channel::Create(addresses[i], GrpcOptions());
    ASSERT_TRUE(direct.ok());
    ASSERT_TRUE(testing::Eventually([&] {
      EchoResponse resp;
      return EchoCall(direct.value().get(), "up", &resp, {}, 1s).ok();
    }, 20s)) << addresses[i];
    registry::ProviderInfo self;
    self.endpoint = {"127.0.0.1", port};
    publishers[i] = std::make_unique<RegistryPublisher>(zk_client, "/krpc", self, std::vector<std::string>{kEcho});
    publishers[i]->Start();
  }
  auto ch = Channel::Create("zk://" + zk.hosts() + "/krpc", GrpcOptions());
  ASSERT_TRUE(ch.ok()) << ch.status();
  ASSERT_TRUE(ch.value()->WaitForEndpoints(kEcho, 10s).ok());
  ASSERT_TRUE(testing::Eventually([&] { return ch.value()->Endpoints().size() == 3; }, 20s));

  std::atomic<bool> stop{false};
  std::mutex mu;
  testing::CallTally tally;
  std::thread load([&] {
    while (!stop.load()) {
      auto t = testing::RunEcho(ch.value().get(), 200, 4, /*idempotent=*/true);
      std::lock_guard lock(mu);
      tally.ok += t.ok;
      tally.failed += t.failed;
      for (auto& [code, n] : t.codes) tally.codes[code] += n;
      for (auto& [ep, n] : t.by) tally.by[ep] += n;
    }
  });
  auto answered_by = [&](const std::string& a) {
    std::lock_guard lock(mu);
    return tally.by[a];
  };
  ASSERT_TRUE(testing::Eventually([&] { return answered_by(addresses[0]) >= 100; }, 30s));
  ASSERT_EQ(kill(servers[0].pid, SIGKILL), 0);
  const int base = answered_by(addresses[1]) + answered_by(addresses[2]);
  ASSERT_TRUE(testing::Eventually([&] { return answered_by(addresses[1]) + answered_by(addresses[2]) >= base + 3000; }, 60s));
  stop.store(true);
  load.join();
  std::string codes;
  for (auto& [code, n] : tally.codes) codes += std::string(StatusCodeName(code)) + "=" + std::to_string(n) + " ";
  EXPECT_EQ(tally.failed, 0) << codes;
  EXPECT_GT(tally.ok, 3000);
  for (auto& p : publishers) p.reset();
  zk_client->Stop();
}

TEST(GrpcServerTest, a_bad_protocol_name_is_refused_naming_the_key) {
  ChannelOptions o;
  OptionSet set;
  o.Register(set);
  const Status parsed = set.Set("protocol", "http3", "test");
  EXPECT_EQ(parsed.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(parsed.message().find("'protocol'"), std::string::npos) << parsed;
  // A C++ caller cannot misspell it; an integer cast out of range is refused, not defaulted.
  o.connection.protocol = static_cast<WireProtocol>(9);
  auto ch = Channel::Create("127.0.0.1:1", o);
  ASSERT_FALSE(ch.ok());
  EXPECT_NE(ch.status().message().find("protocol"), std::string::npos) << ch.status();
}

}  // namespace
}  // namespace krpc
