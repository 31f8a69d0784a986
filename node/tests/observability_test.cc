// Observability against a running node and client: exact counters after known traffic,
// promtool on the scraped text, /readyz during drain, fault-injection endpoints, bad HTTP,
// and removal of the series of an endpoint that left.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <future>
#include <thread>

#include "examples/echo.pb.h"
#include "examples/user.pb.h"
#include "http_get.h"
#include "krpc/channel.h"
#include "krpc/client_admin.h"
#include "krpc/client_runtime.h"
#include "krpc/client_metrics.h"
#include "krpc/server_metrics.h"
#include "eventually.h"
#include "example_services.h"
#include "node_app.h"
#include "zk_server.h"

namespace krpc {
namespace {
using namespace std::chrono_literals;
using testing::Eventually;
using testing::HttpCall;
using testing::HttpResult;

// The value of one series line ("name{labels} value"), or -1 when absent.
double Value(const std::string& text, const std::string& series) {
  size_t at = 0;
  while ((at = text.find(series + " ", at)) != std::string::npos) {
    if (at == 0 || text[at - 1] == '\n') return std::stod(text.substr(at + series.size() + 1));
    at += series.size();
  }
  return -1;
}

int Promtool(const std::string& text) {
  const std::string path = "/tmp/krpc-metrics-" + std::to_string(getpid()) + ".txt";
  std::ofstream(path) << text;
  const int rc = std::system(("promtool check metrics < " + path + " > " + path + ".out 2>&1").c_str());
  std::ifstream out(path + ".out");
  std::string msg((std::istreambuf_iterator<char>(out)), {});
  if (rc != 0) ADD_FAILURE() << "promtool: " << msg;
  std::remove(path.c_str());
  std::remove((path + ".out").c_str());
  return rc;
}

std::unique_ptr<NodeApp> StartNode(bool faults = false, std::string services = "echo", std::string zk = "") {
  NodeConfig c;
  c.server.listen_host = "127.0.0.1";
  c.server.io_threads = 1;
  c.admin.host = "127.0.0.1";
  c.enable_fault_injection = faults;
  c.zk.hosts = std::move(zk);
  c.zk.session_timeout_ms = 4000;
  c.registry.advertise_host = "127.0.0.1";
  c.registry.deregister_grace_ms = 0;
  auto app = std::make_unique<NodeApp>(c);
  for (auto& svc : examples::MakeExampleServices(services).value()) app->AddService(svc);
  Status s = app->Start();
  EXPECT_TRUE(s.ok()) << s;
  return app;
}

Status Echo(Channel* ch, std::chrono::milliseconds timeout = 2000ms) {
  examples::EchoService_Stub stub(ch);
  Controller cntl;
  cntl.set_timeout(timeout);
  examples::EchoRequest req;
  req.set_payload("abc");
  examples::EchoResponse resp;
  stub.Echo(&cntl, &req, &resp, nullptr);
  return cntl.status();
}

class ObservabilityTest : public ::testing::Test {
 protected:
  std::shared_ptr<Channel> Connect(NodeApp& node, ChannelOptions o = {}) {
    return Channel::Create("127.0.0.1:" + std::to_string(node.server().port()), o, runtime_).value();
  }
  std::shared_ptr<ClientRuntime> runtime_ = ClientRuntime::Create(1);
  // Client metrics for every channel of runtime_, registered in `metrics`.
  std::shared_ptr<ClientMetrics> ObserveClients(Metrics& metrics) {
    auto observer = std::make_shared<ClientMetrics>(metrics, runtime_);
    runtime_->SetObserver(observer);
    return observer;
  }
};

TEST_F(ObservabilityTest, node_metrics_count_known_traffic_exactly) {
  auto node = StartNode();
  auto ch = Connect(*node);
  for (int i = 0; i < 7; ++i) ASSERT_TRUE(Echo(ch.get()).ok());
  examples::UserService_Stub users(ch.get());  // not hosted: UNIMPLEMENTED
  for (int i = 0; i < 3; ++i) {
    Controller cntl;
    examples::LoginRequest req;
    examples::LoginResponse resp;
    users.Login(&cntl, &req, &resp, nullptr);
    ASSERT_EQ(cntl.code(), StatusCode::kUnimplemented);
  }
  auto m = HttpCall(node->admin()->port(), "GET", "/metrics");
  ASSERT_EQ(m.status, 200);
  const std::string echo = "{method=\"Echo\",protocol=\"krpc\",service=\"krpc.examples.EchoService\"}";
  EXPECT_EQ(Value(m.body, "krpc_server_requests_total{code=\"OK\",method=\"Echo\",protocol=\"krpc\",service=\"krpc.examples.EchoService\"}"), 7);
  EXPECT_EQ(Value(m.body, "krpc_server_request_duration_seconds_count" + echo), 7);
  EXPECT_EQ(Value(m.body, "krpc_server_requests_total{code=\"UNIMPLEMENTED\",method=\"unknown\",protocol=\"krpc\",service=\"unknown\"}"), 3);
  EXPECT_EQ(Value(m.body, "krpc_server_connections_accepted_total"), 1);
  EXPECT_EQ(Value(m.body, "krpc_server_connections"), 1);
  EXPECT_EQ(Value(m.body, "krpc_server_inflight_requests"), 0);
  EXPECT_GT(Value(m.body, "krpc_server_received_bytes_total"), 10 * 16);
  EXPECT_EQ(Value(m.body, "krpc_server_ready"), 1);
  EXPECT_EQ(Value(m.body, "krpc_server_request_duration_seconds_bucket{method=\"Echo\",protocol=\"krpc\",service=\"krpc.examples.EchoService\",le=\"0.0001\"}") >= 0, true)
      << "sub-millisecond buckets exist";
  EXPECT_EQ(Promtool(m.body), 0);
}

// /status and /metrics are generated from one declaration (KRPC_SERVER_STATS): every declared
// statistic appears in both, with the value Server::stats() reports.
TEST_F(ObservabilityTest, status_and_metrics_show_every_declared_server_statistic) {
  auto node = StartNode();
  auto ch = Connect(*node);
  ASSERT_TRUE(Echo(ch.get()).ok());
  const auto m = HttpCall(node->admin()->port(), "GET", "/metrics");
  const auto status = HttpCall(node->admin()->port(), "GET", "/status");
  ASSERT_EQ(m.status, 200);
  ASSERT_EQ(status.status, 200);
  int declared = 0;
  node->server().stats().ForEach([&](const StatView& v) {
    ++declared;
    EXPECT_NE(status.body.find("\"" + std::string(v.group) + "\":{"), std::string::npos) << v.group;
    EXPECT_NE(status.body.find("\"" + std::string(v.key) + "\":"), std::string::npos) << v.name;
    if (v.metric.empty() || (v.kind == StatKind::Timestamp && v.value == 0)) return;
    std::string label = std::string(v.labels);
    if (const auto eq = label.find('='); eq != std::string::npos) {
      label = label.substr(0, eq) + "=\"" + label.substr(eq + 1) + "\"";
    } else if (!label.empty()) {
      label = "result=\"" + label + "\"";
    }
    const std::string series = std::string(v.metric) + (label.empty() ? "" : "{" + label + "}");
    EXPECT_GE(Value(m.body, series), 0) << series << " is exported";
  });
  EXPECT_GE(declared, 17);
  EXPECT_EQ(Value(m.body, "krpc_server_calls_total"), -1) << "declared without a metric: not exported";
  EXPECT_EQ(Promtool(m.body), 0);
}

TEST_F(ObservabilityTest, client_metrics_count_calls_and_show_endpoint_state) {
  auto node = StartNode();
  Metrics metrics;
  auto observer = ObserveClients(metrics);
  auto ch = Connect(*node);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(Echo(ch.get()).ok());
  AdminOptions ao;
  ao.host = "127.0.0.1";
  auto admin = MakeClientAdmin(ao, metrics, runtime_);
  ASSERT_TRUE(admin->Start().ok());
  auto m = HttpCall(admin->port(), "GET", "/metrics");
  ASSERT_EQ(m.status, 200);
  EXPECT_EQ(Value(m.body, "krpc_client_requests_total{code=\"OK\",method=\"Echo\",service=\"krpc.examples.EchoService\"}"), 5);
  EXPECT_EQ(Value(m.body, "krpc_client_request_duration_seconds_count{method=\"Echo\",service=\"krpc.examples.EchoService\"}"), 5);
  const std::string ep = "endpoint=\"127.0.0.1:" + std::to_string(node->server().port()) + "\"";
  const std::string svc = "service=\"127.0.0.1:" + std::to_string(node->server().port()) + "\"";
  EXPECT_EQ(Value(m.body, "krpc_client_breaker_state{" + ep + "," + svc + "}"), 0);
  EXPECT_EQ(Value(m.body, "krpc_client_connects_total{" + ep + "," + svc + "}"), 1);
  EXPECT_EQ(Value(m.body, "krpc_client_connection_reuses_total{" + ep + "," + svc + "}"), 4);
  EXPECT_EQ(Value(m.body, "krpc_client_pool_connections{" + ep + "," + svc + ",state=\"idle\"}"), 1);
  EXPECT_EQ(Promtool(m.body), 0);
  auto status = HttpCall(admin->port(), "GET", "/status");
  EXPECT_NE(status.body.find("\"breaker\":\"closed\""), std::string::npos) << status.body;
}

TEST_F(ObservabilityTest, readyz_turns_503_while_draining) {
  auto node = StartNode(true);
  EXPECT_EQ(HttpCall(node->admin()->port(), "GET", "/readyz").status, 200);
  EXPECT_EQ(HttpCall(node->admin()->port(), "GET", "/healthz").status, 200);
  node->faults()->Set({"", StatusCode::kOk, 1.0, 600, false});
  auto ch = Connect(*node);
  auto slow = std::async(std::launch::async, [&] { return Echo(ch.get()); });
  ASSERT_TRUE(Eventually([&] { return node->server().stats().calls_inflight == 1; }, 60s)) << "the slow call runs";
  auto drained = std::async(std::launch::async, [&] { return node->Drain(); });
  HttpResult r;
  EXPECT_TRUE(Eventually([&] { return (r = HttpCall(node->admin()->port(), "GET", "/readyz")).status == 503; }, 60s));
  EXPECT_EQ(r.body, "draining\n");
  EXPECT_TRUE(slow.get().ok()) << "the in-flight call finished";
  EXPECT_TRUE(drained.get());
}

TEST_F(ObservabilityTest, fault_endpoints_are_absent_unless_enabled) {
  auto plain = StartNode(false);
  EXPECT_EQ(HttpCall(plain->admin()->port(), "POST", "/admin/fault", R"({"code":"UNAVAILABLE"})").status, 404);
  EXPECT_EQ(HttpCall(plain->admin()->port(), "DELETE", "/admin/fault").status, 404);

  auto node = StartNode(true);
  auto ch = Connect(*node, [] { ChannelOptions o; o.retry.max_attempts = 1; return o; }());
  EXPECT_EQ(HttpCall(node->admin()->port(), "POST", "/admin/fault", R"({"code":"NOPE"})").status, 400);
  auto set = HttpCall(node->admin()->port(), "POST", "/admin/fault", R"({"method":"Echo","code":"UNAVAILABLE","rate":1.0})");
  EXPECT_EQ(set.status, 200) << set.body;
  EXPECT_EQ(Echo(ch.get()).code(), StatusCode::kUnavailable);
  EXPECT_NE(HttpCall(node->admin()->port(), "GET", "/admin/fault").body.find("UNAVAILABLE"), std::string::npos);
  EXPECT_EQ(HttpCall(node->admin()->port(), "DELETE", "/admin/fault").status, 200);
  EXPECT_TRUE(Echo(ch.get()).ok());
  EXPECT_EQ(HttpCall(node->admin()->port(), "POST", "/admin/fault", R"({"delay_ms":300})").status, 200);
  EXPECT_EQ(Echo(ch.get(), 100ms).code(), StatusCode::kDeadlineExceeded);
}

TEST_F(ObservabilityTest, malformed_http_gets_400_and_rpc_keeps_serving) {
  auto node = StartNode();
  auto ch = Connect(*node);
  const std::string reply = testing::HttpRaw(node->admin()->port(), "GARBAGE GARBAGE\r\n\r\n");
  EXPECT_EQ(reply.substr(0, 12), "HTTP/1.1 400") << reply;
  const std::string huge = testing::HttpRaw(node->admin()->port(),
                                            "POST /admin/fault HTTP/1.1\r\nContent-Length: 10000000\r\n\r\n" + std::string(1 << 17, 'x'));
  EXPECT_EQ(huge.substr(0, 12), "HTTP/1.1 400") << "body over the limit";
  EXPECT_EQ(HttpCall(node->admin()->port(), "GET", "/nowhere").status, 404);
  EXPECT_EQ(HttpCall(node->admin()->port(), "POST", "/metrics").status, 405);
  EXPECT_TRUE(Echo(ch.get()).ok());
  EXPECT_EQ(node->admin()->bad_requests(), 2u);
}

TEST_F(ObservabilityTest, series_of_an_endpoint_that_left_are_removed) {
  testing::ZkServer zk;
  ASSERT_TRUE(zk.Start());
  auto a = StartNode(false, "echo", zk.hosts());
  auto b = StartNode(false, "echo", zk.hosts());
  Metrics metrics;
  auto observer = std::make_shared<ClientMetrics>(metrics, runtime_);
  auto ch = Channel::Create("zk://" + zk.hosts() + "/krpc", {}, runtime_).value();
  ASSERT_TRUE(ch->WaitForEndpoints("krpc.examples.EchoService", 10s).ok());
  const std::string gone = "endpoint=\"" + b->advertised().ToString() + "\"";
  auto has_gone = [&] { return metrics.Serialize().find(gone) != std::string::npos; };
  ASSERT_TRUE(Eventually(has_gone, 60s));
  b.reset();  // its session closes; discovery drops it
  EXPECT_TRUE(Eventually([&] { return !has_gone(); }, 60s)) << "no stale label sets";
  EXPECT_NE(metrics.Serialize().find("endpoint=\"" + a->advertised().ToString() + "\""), std::string::npos);
  EXPECT_GE(Value(metrics.Serialize(), "krpc_client_discovery_updates_total"), 2);
}

}  // namespace
}  // namespace krpc

namespace krpc {
namespace {

// Regression: two channels on one target exported every endpoint series twice (duplicate
// series, which Prometheus rejects) and counted each endpoint once per channel.
TEST_F(ObservabilityTest, several_channels_on_one_target_export_each_series_once) {
  auto node = StartNode();
  Metrics metrics;
  auto observer = ObserveClients(metrics);
  auto a = Connect(*node);
  auto b = Connect(*node);
  ASSERT_TRUE(Echo(a.get()).ok());
  ASSERT_TRUE(Echo(b.get()).ok());
  AdminOptions ao;
  ao.host = "127.0.0.1";
  auto admin = MakeClientAdmin(ao, metrics, runtime_);
  ASSERT_TRUE(admin->Start().ok());
  auto m = HttpCall(admin->port(), "GET", "/metrics");
  ASSERT_EQ(m.status, 200);
  const std::string target = "127.0.0.1:" + std::to_string(node->server().port());
  EXPECT_EQ(Value(m.body, "krpc_client_endpoints{service=\"" + target + "\"}"), 1) << "one endpoint, not one per channel";
  const std::string ep = "endpoint=\"" + target + "\",service=\"" + target + "\"";
  EXPECT_EQ(Value(m.body, "krpc_client_connects_total{" + ep + "}"), 2) << "both channels' connections, in one series";
  size_t lines = 0;
  for (size_t at = m.body.find("krpc_client_breaker_state{"); at != std::string::npos;
       at = m.body.find("krpc_client_breaker_state{", at + 1)) {
    ++lines;
  }
  EXPECT_EQ(lines, 1u);
  EXPECT_EQ(Promtool(m.body), 0);
}

}  // namespace
}  // namespace krpc
