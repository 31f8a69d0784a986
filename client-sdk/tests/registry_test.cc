// Registry and discovery against a real ZooKeeper: nodes (in-process NodeApps and krpc-node
// child processes) publish, channels with zk:// targets discover.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <fstream>
#include <future>
#include <map>
#include <thread>

#include "examples/echo.pb.h"
#include "examples/user.pb.h"
#include "krpc/registry_publisher.h"
#include "krpc/channel.h"
#include "krpc/client_runtime.h"
#include "krpc/json.h"
#include "krpc/registry_layout.h"
#include "krpc/zk_client.h"
#include "example_services.h"
#include "node_app.h"
#include "eventually.h"
#include "zk_server.h"

namespace krpc {
namespace {
using namespace std::chrono_literals;
using testing::ZkServer;

constexpr const char* kEcho = "krpc.examples.EchoService";

using testing::Eventually;

class RegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(zk_.Start()) << "ZooKeeper did not start (is the zookeeper package installed?)";
    observer_ = std::make_unique<ZkClient>(ZkOptions{zk_.hosts(), 10000, ""});
    ASSERT_TRUE(observer_->Start().ok());
    ASSERT_TRUE(observer_->WaitConnected(10s));
  }

  std::unique_ptr<NodeApp> StartNode(bool with_zk = true, int session_ms = 4000, std::string digest = "") {
    NodeConfig c;
    c.server.listen_host = "127.0.0.1";
    c.server.io_threads = 1;
    c.server.drain_timeout_ms = 2000;
    if (with_zk) c.zk = {zk_.hosts(), session_ms, digest};
    c.registry.advertise_host = "127.0.0.1";
    c.registry.zone = "z1";
    c.registry.deregister_grace_ms = 300;
    auto app = std::make_unique<NodeApp>(c);
    for (auto& svc : examples::MakeExampleServices("echo,user").value()) app->AddService(svc);
    Status s = app->Start();
    EXPECT_TRUE(s.ok()) << s;
    return app;
  }

  std::string ProviderPath(NodeApp& n, const char* service = kEcho) {
    return registry::ProviderPath("/krpc", service, n.advertised());
  }

  bool Exists(const std::string& path) {
    bool e = false;
    EXPECT_TRUE(observer_->Exists(path, false, &e).ok());
    return e;
  }

  std::shared_ptr<Channel> ZkChannel() {
    ChannelOptions o;
    o.reconnect.initial_ms = 50;
    o.load_balancer = "round_robin";
    o.outlier.slow_start_ms = 0;  // exact shares; slow start has its own test
    auto ch = Channel::Create("zk://" + zk_.hosts() + "/krpc", o, runtime_);
    EXPECT_TRUE(ch.ok()) << ch.status();
    // Routes are created on first use; start resolving the Echo service now.
    EXPECT_TRUE(ch.value()->WaitForEndpoints(kEcho, 10s).ok());
    return ch.value();
  }

  // Sends n calls; returns how many each endpoint answered.
  std::map<std::string, int> Spread(Channel* ch, int n, int* failures = nullptr) {
    std::map<std::string, int> by;
    examples::EchoService_Stub stub(ch);
    for (int i = 0; i < n; ++i) {
      Controller cntl;
      examples::EchoRequest req;
      req.set_payload("x");
      examples::EchoResponse resp;
      stub.Echo(&cntl, &req, &resp, nullptr);
      if (cntl.Failed()) {
        if (failures) ++*failures;
        continue;
      }
      by[cntl.remote()]++;
    }
    return by;
  }

  size_t Known(Channel* ch) {
    size_t n = 0;
    for (const auto& e : ch->Endpoints()) n += e.service == kEcho;
    return n;
  }

  ZkServer zk_;
  std::unique_ptr<ZkClient> observer_;
  std::shared_ptr<ClientRuntime> runtime_ = ClientRuntime::Create(2);
};

TEST_F(RegistryTest, registered_node_is_visible_with_its_data_one_znode_per_service) {
  auto node = StartNode();
  ASSERT_TRUE(Eventually([&] { return node->publisher()->registered(); }));
  std::string data;
  int64_t owner = 0;
  ASSERT_TRUE(observer_->Get(ProviderPath(*node), false, &data, &owner).ok());
  EXPECT_EQ(owner, node->zk()->session_id()) << "ephemeral, owned by the node's session";
  auto obj = json::ParseFlatObject(data);
  ASSERT_TRUE(obj) << data;
  EXPECT_EQ(obj->at("host"), "127.0.0.1");
  EXPECT_EQ(obj->at("port"), std::to_string(node->server().port()));
  EXPECT_EQ(obj->at("weight"), "100");
  EXPECT_EQ(obj->at("zone"), "z1");
  EXPECT_EQ(obj->at("node_id"), node->advertised().ToString());
  EXPECT_NE(obj->at("started_at"), "0");
  EXPECT_TRUE(Exists(ProviderPath(*node, "krpc.examples.UserService")));
  std::vector<std::string> services;
  ASSERT_TRUE(observer_->GetChildren("/krpc/services", false, &services).ok());
  EXPECT_EQ(services.size(), 2u) << "the health service is not registered";
  std::vector<std::string> providers;
  ASSERT_TRUE(observer_->GetChildren(registry::ProvidersPath("/krpc", kEcho), false, &providers).ok());
  EXPECT_EQ(providers.size(), 1u);
}

TEST_F(RegistryTest, two_nodes_are_both_visible_and_share_the_calls) {
  auto a = StartNode();
  auto b = StartNode();
  auto ch = ZkChannel();
  ASSERT_TRUE(ch->WaitForEndpoints(kEcho, 5s).ok());
  ASSERT_TRUE(Eventually([&] { return Known(ch.get()) == 2; }, 5s));
  int failures = 0;
  auto by = Spread(ch.get(), 200, &failures);
  EXPECT_EQ(failures, 0);
  ASSERT_EQ(by.size(), 2u);
  EXPECT_EQ(by[a->advertised().ToString()], 100);
  EXPECT_EQ(by[b->advertised().ToString()], 100);
}

TEST_F(RegistryTest, node_that_closes_its_session_disappears_from_client_caches) {
  auto a = StartNode();
  auto b = StartNode();
  auto ch = ZkChannel();
  ASSERT_TRUE(Eventually([&] { return Known(ch.get()) == 2; }, 5s));
  const auto gone = b->advertised().ToString();
  b.reset();  // no drain, no deregister: the session closes and its ephemerals go
  EXPECT_TRUE(Eventually([&] { return Known(ch.get()) == 1; }, 2s)) << "changes reach the channel within a second";
  int failures = 0;
  auto by = Spread(ch.get(), 50, &failures);
  EXPECT_EQ(failures, 0);
  EXPECT_EQ(by.count(gone), 0u);
}

TEST_F(RegistryTest, killed_node_process_disappears_after_the_session_timeout) {
  auto a = StartNode();
  const uint16_t port = testing::FreePort();
  const std::string port_s = std::to_string(port);
  testing::ChildProcess node;
  testing::SpawnQuiet(KRPC_NODE_BIN, {"--listen_host", "127.0.0.1", "--port", port_s, "--advertise_host", "127.0.0.1",
                                      "--zk_hosts", zk_.hosts(), "--zk_session_timeout_ms", "2000", "--io_threads", "1",
                                      "--log_level", "warn", "--admin_enabled", "false"}, &node);
  const pid_t pid = node.pid;
  auto ch = ZkChannel();
  ASSERT_TRUE(Eventually([&] { return Known(ch.get()) == 2; }, 10s));
  const std::string path = registry::ProviderPath("/krpc", kEcho, Endpoint{"127.0.0.1", port});
  ASSERT_TRUE(Exists(path));
  const auto killed = std::chrono::steady_clock::now();
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  node.pid = -1;  // reaped
  ASSERT_TRUE(Eventually([&] { return !Exists(path); }, 10s)) << "znode removed by ZooKeeper";
  ASSERT_TRUE(Eventually([&] { return Known(ch.get()) == 1; }, 3s));
  const auto took = std::chrono::steady_clock::now() - killed;
  EXPECT_LT(took, 2000ms + 3000ms) << "within the session timeout (plus ZooKeeper's tick)";
  int failures = 0;
  Spread(ch.get(), 20, &failures);
  EXPECT_EQ(failures, 0);
}

TEST_F(RegistryTest, expired_session_makes_the_node_recreate_its_znodes) {
  auto node = StartNode();
  ASSERT_TRUE(Eventually([&] { return node->publisher()->registered(); }));
  const int64_t first = node->zk()->session_id();
  ASSERT_TRUE(ZkServer::ExpireUntilReplaced(zk_.hosts(), [&] { return node->zk()->session_id(); },
                                            node->zk()->session_password()));
  ASSERT_TRUE(Eventually([&] { return node->publisher()->registrations() == 2 && node->publisher()->registered(); }));
  int64_t owner = 0;
  std::string data;
  ASSERT_TRUE(observer_->Get(ProviderPath(*node), false, &data, &owner).ok());
  EXPECT_NE(owner, first);
  EXPECT_EQ(owner, node->zk()->session_id());
}

TEST_F(RegistryTest, znode_left_by_an_older_session_is_replaced) {
  NodeConfig c;
  c.server.listen_host = "127.0.0.1";
  c.server.port = testing::FreePort();
  c.zk = {zk_.hosts(), 4000, ""};
  c.registry.advertise_host = "127.0.0.1";
  // A previous incarnation of this node (another session) still holds the znode.
  ZkClient old({zk_.hosts(), 30000, ""});
  ASSERT_TRUE(old.Start().ok());
  ASSERT_TRUE(old.WaitConnected(10s));
  const std::string path = registry::ProviderPath("/krpc", kEcho, Endpoint{"127.0.0.1", c.server.port});
  ASSERT_TRUE(old.EnsurePath(registry::ProvidersPath("/krpc", kEcho)).ok());
  ASSERT_TRUE(old.Create(path, "{}", true).ok());
  NodeApp node(c);
  for (auto& svc : examples::MakeExampleServices("echo,user").value()) node.AddService(svc);
  ASSERT_TRUE(node.Start().ok());
  ASSERT_TRUE(Eventually([&] { return node.publisher()->registered(); }));
  int64_t owner = 0;
  std::string data;
  ASSERT_TRUE(observer_->Get(path, false, &data, &owner).ok());
  EXPECT_EQ(owner, node.zk()->session_id());
  EXPECT_NE(data, "{}");
}

TEST_F(RegistryTest, zookeeper_outage_keeps_nodes_serving_and_clients_their_endpoints) {
  auto node = StartNode(true, 3000);
  auto ch = ZkChannel();
  ASSERT_TRUE(Eventually([&] { return Known(ch.get()) == 1; }, 5s));
  zk_.Stop();
  // Longer than the session timeout: the node's session will be expired when ZooKeeper returns.
  const auto until = std::chrono::steady_clock::now() + 4s;
  int failures = 0, calls = 0;
  while (std::chrono::steady_clock::now() < until) {
    Spread(ch.get(), 10, &failures);
    calls += 10;
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(failures, 0) << "of " << calls << " calls while ZooKeeper was down";
  EXPECT_EQ(Known(ch.get()), 1u) << "the last known list is kept";
  ASSERT_TRUE(zk_.Start());
  ASSERT_TRUE(observer_->WaitConnected(15s));
  EXPECT_TRUE(Eventually([&] { return node->publisher()->registered() && Exists(ProviderPath(*node)); }))
      << "registration comes back";
  Spread(ch.get(), 20, &failures);
  EXPECT_EQ(failures, 0);
}

TEST_F(RegistryTest, node_started_while_zookeeper_is_down_serves_and_registers_later) {
  zk_.Stop();
  auto node = StartNode();
  auto direct = Channel::Create("127.0.0.1:" + std::to_string(node->server().port()), {}, runtime_).value();
  int failures = 0;
  Spread(direct.get(), 10, &failures);
  EXPECT_EQ(failures, 0) << "a dead ZooKeeper never stops a node from serving";
  EXPECT_FALSE(node->publisher()->registered());
  ASSERT_TRUE(zk_.Start());
  ASSERT_TRUE(observer_->WaitConnected(15s));
  EXPECT_TRUE(Eventually([&] { return Exists(ProviderPath(*node)); }, 20s));
}

TEST_F(RegistryTest, drain_removes_znodes_before_the_node_stops_answering) {
  auto node = StartNode();
  ASSERT_TRUE(Eventually([&] { return Exists(ProviderPath(*node)); }));
  auto direct = Channel::Create("127.0.0.1:" + std::to_string(node->server().port()), {}, runtime_).value();
  auto drained = std::async(std::launch::async, [&] { return node->Drain(); });
  ASSERT_TRUE(Eventually([&] { return !Exists(ProviderPath(*node)); }, 2s));
  int failures = 0;
  Spread(direct.get(), 5, &failures);
  EXPECT_EQ(failures, 0) << "still answering during the deregister grace period";
  EXPECT_TRUE(drained.get());
  Spread(direct.get(), 1, &failures);
  EXPECT_EQ(failures, 1) << "stopped after the drain";
}

TEST_F(RegistryTest, static_target_spreads_calls_without_zookeeper) {
  zk_.Stop();
  auto a = StartNode(false);
  auto b = StartNode(false);
  ChannelOptions rr;
  rr.load_balancer = "round_robin";
  auto ch = Channel::Create("static://127.0.0.1:" + std::to_string(a->server().port()) + ",127.0.0.1:" +
                                std::to_string(b->server().port()),
                            rr, runtime_)
                .value();
  int failures = 0;
  auto by = Spread(ch.get(), 100, &failures);
  EXPECT_EQ(failures, 0);
  ASSERT_EQ(by.size(), 2u);
  EXPECT_EQ(by.begin()->second, 50);
}

TEST_F(RegistryTest, empty_provider_list_from_zookeeper_keeps_the_last_one) {
  auto node = StartNode();
  auto ch = ZkChannel();
  ASSERT_TRUE(Eventually([&] { return Known(ch.get()) == 1; }, 5s));
  ASSERT_TRUE(observer_->Delete(ProviderPath(*node)).ok());  // an operator's mistake, say
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(Known(ch.get()), 1u);
  int failures = 0;
  Spread(ch.get(), 10, &failures);
  EXPECT_EQ(failures, 0);
}

// A large service: the provider data a channel cached stays true. Joins, leaves and a provider
// re-registering with new data (its data watch) are each seen, while only the changed provider
// is read again (ZkDiscovery caches the rest).
TEST_F(RegistryTest, large_service_sees_every_join_leave_and_data_change) {
  constexpr int kProviders = 300;
  const std::string service = "bench.Large";
  ASSERT_TRUE(observer_->EnsurePath(registry::ProvidersPath("/krpc", service)).ok());
  const auto provider = [&](int i, int weight) {
    registry::ProviderInfo info;
    info.endpoint = Endpoint{"127.0.0.1", static_cast<uint16_t>(30000 + i)};
    info.weight = weight;
    return std::make_pair(registry::ProviderPath("/krpc", service, info.endpoint), info.ToJson());
  };
  for (int i = 0; i < kProviders; ++i) {
    auto [path, data] = provider(i, 100);
    ASSERT_TRUE(observer_->Create(path, data, true).ok());
  }
  ChannelOptions o;
  o.outlier.slow_start_ms = 0;
  auto ch = Channel::Create("zk://" + zk_.hosts() + "/krpc", o, runtime_).value();
  ASSERT_TRUE(ch->WaitForEndpoints(service, 10s).ok());
  const auto weight_of = [&](int i) {
    const std::string address = "127.0.0.1:" + std::to_string(30000 + i);
    for (const auto& e : ch->Endpoints()) {
      if (e.address == address) return e.weight;
    }
    return -1;
  };
  ASSERT_TRUE(Eventually([&] { return ch->Endpoints().size() == kProviders; }, 10s));
  EXPECT_EQ(weight_of(7), 100);

  auto [joined, joined_data] = provider(kProviders, 100);
  ASSERT_TRUE(observer_->Create(joined, joined_data, true).ok());
  EXPECT_TRUE(Eventually([&] { return ch->Endpoints().size() == kProviders + 1; }, 10s));
  ASSERT_TRUE(observer_->Delete(joined).ok());
  EXPECT_TRUE(Eventually([&] { return ch->Endpoints().size() == kProviders && weight_of(kProviders) == -1; }, 10s));

  auto [changed, changed_data] = provider(7, 25);  // an operator sets a new weight in place
  ASSERT_TRUE(observer_->Set(changed, changed_data).ok());
  EXPECT_TRUE(Eventually([&] { return weight_of(7) == 25; }, 10s)) << "weight of provider 7: " << weight_of(7);
  auto [again, again_data] = provider(7, 60);  // and again: the data watch was re-armed
  ASSERT_TRUE(observer_->Set(again, again_data).ok());
  EXPECT_TRUE(Eventually([&] { return weight_of(7) == 60; }, 10s)) << "weight of provider 7: " << weight_of(7);
  auto [moved, moved_data] = provider(9, 5);  // a provider re-registering with new data
  ASSERT_TRUE(observer_->Delete(moved).ok());
  ASSERT_TRUE(observer_->Create(moved, moved_data, true).ok());
  EXPECT_TRUE(Eventually([&] { return weight_of(9) == 5 && ch->Endpoints().size() == kProviders; }, 10s));
  EXPECT_EQ(weight_of(8), 100);
}

TEST_F(RegistryTest, digest_credentials_protect_the_registry_from_other_writers) {
  auto node = StartNode(true, 4000, "krpc:secret");
  ASSERT_TRUE(Eventually([&] { return node->publisher()->registered(); }));
  std::string data;
  EXPECT_TRUE(observer_->Get(ProviderPath(*node), false, &data).ok()) << "anyone may read";
  const Status rc = observer_->Delete(ProviderPath(*node));
  EXPECT_EQ(rc.code(), StatusCode::kPermissionDenied) << "a client without the digest cannot delete it: " << rc;
  EXPECT_TRUE(Exists(ProviderPath(*node)));
}

// Regression: a node's znode deleted from outside was never re-created, while /readyz stayed
// 200 and krpc_registry_registered stayed 1.
TEST_F(RegistryTest, own_znode_deleted_from_outside_is_recreated) {
  auto node = StartNode();
  ASSERT_TRUE(Eventually([&] { return node->publisher()->registered(); }));
  const std::string path = ProviderPath(*node);
  ASSERT_TRUE(Exists(path));
  ASSERT_TRUE(observer_->Delete(path).ok());
  EXPECT_TRUE(Eventually([&] { return node->publisher()->repairs() == 1; })) << "the deletion was noticed";
  EXPECT_TRUE(Eventually([&] { return Exists(path) && node->publisher()->registered(); }));
  // And again: the watch was re-armed.
  ASSERT_TRUE(observer_->Delete(path).ok());
  EXPECT_TRUE(Eventually([&] { return node->publisher()->repairs() == 2 && Exists(path); }));
}

// Regression: ~RegistryPublisher waited 5 s for a task on the ZooKeeper thread that still
// held references into the destructor's stack frame (a use after return once it timed out).
TEST_F(RegistryTest, publisher_destructor_never_waits_for_a_busy_zookeeper_thread) {
  auto zk = std::make_shared<ZkClient>(ZkOptions{zk_.hosts(), 10000, ""});
  ASSERT_TRUE(zk->Start().ok());
  ASSERT_TRUE(zk->WaitConnected(10s));
  registry::ProviderInfo self;
  self.endpoint = Endpoint{"127.0.0.1", 1};
  auto publisher = std::make_unique<RegistryPublisher>(zk, "/krpc", self, std::vector<std::string>{kEcho});
  std::promise<void> release;
  auto gate = release.get_future().share();
  zk->Post([gate] { gate.wait(); });  // the task thread is busy
  publisher->Start();                 // queued behind it
  auto destroyed = std::async(std::launch::async, [&] { publisher.reset(); });
  EXPECT_EQ(destroyed.wait_for(60s), std::future_status::ready) << "destruction does not wait for the thread";
  release.set_value();  // the queued Start() now finds the publisher gone (ASan: no use after free)
  std::promise<void> drained;
  zk->Post([&] { drained.set_value(); });
  drained.get_future().wait();
  EXPECT_FALSE(Exists(registry::ProviderPath("/krpc", kEcho, self.endpoint)));
  zk->Stop();
}

// Regression: zk_hosts=127.0.0.1 (no port) or an unresolvable host was accepted and retried
// forever, logging an error every second.
TEST_F(RegistryTest, zk_hosts_is_validated_at_start_up_naming_the_key) {
  for (const char* bad : {"127.0.0.1", "no-such-host.invalid:2181", "127.0.0.1:99999"}) {
    NodeConfig c;
    c.server.listen_host = "127.0.0.1";
    c.zk.hosts = bad;
    NodeApp app(c);
    const Status s = app.Start();
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(s.message().find("'zk_hosts'"), std::string::npos) << s;
  }
  EXPECT_FALSE(Channel::Create("zk://no-such-host.invalid:2181/krpc", {}, runtime_).ok());
}

// With log_format=json every line on stderr is JSON, including protobuf's own messages that
// any client can trigger (invalid UTF-8 in a string field) and the ZooKeeper client's.
TEST_F(RegistryTest, json_logs_stay_well_formed_under_hostile_input) {
  const uint16_t port = testing::FreePort();
  const std::string port_s = std::to_string(port);
  char path[] = "/tmp/krpc-log-XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(fd, 2);
    testing::CloseInheritedFds();
    execl(KRPC_NODE_BIN, "krpc-node", "--listen_host", "127.0.0.1", "--port", port_s.c_str(), "--io_threads", "1",
          "--log_format", "json", "--log_async", "false", "--zk_hosts", zk_.hosts().c_str(), "--advertise_host",
          "127.0.0.1", "--admin_enabled", "false", static_cast<char*>(nullptr));
    _exit(127);
  }
  ::close(fd);
  auto ch = Channel::Create("127.0.0.1:" + port_s, {}, runtime_);
  ASSERT_TRUE(ch.ok());
  examples::UserService_Stub stub(ch.value().get());
  ASSERT_TRUE(Eventually([&] {
    Controller cntl;
    examples::LoginRequest req;
    req.set_name(std::string("\xff\xfe bad \xc3(", 10));  // not UTF-8: proto3 refuses to parse it
    examples::LoginResponse resp;
    stub.Login(&cntl, &req, &resp, nullptr);
    return cntl.code() == StatusCode::kInvalidArgument;
  }));
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  std::ifstream in(path);
  std::string line;
  int lines = 0, from_protobuf = 0;
  while (std::getline(in, line)) {
    ++lines;
    auto obj = json::ParseFlatObject(line);
    ASSERT_TRUE(obj.has_value()) << "not JSON: " << line;
    if ((*obj)["component"] == "protobuf") ++from_protobuf;
  }
  ::unlink(path);
  EXPECT_GT(lines, 3);
  EXPECT_GE(from_protobuf, 1) << "protobuf's message went through spdlog";
}

}  // namespace
}  // namespace krpc
