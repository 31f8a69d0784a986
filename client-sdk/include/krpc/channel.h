// Channel: calls a service through one target, and implements protobuf's RpcChannel so
// generated stubs work:
//
//   auto channel = krpc::Channel::Create("static://127.0.0.1:7000", {});
//   krpc::examples::EchoService_Stub stub(channel->get());
//   krpc::Controller cntl;
//   stub.Echo(&cntl, &req, &resp, nullptr);          // blocking
//   stub.Echo(&cntl, &req, &resp, done);             // callback (runs on an I/O thread)
//   auto f = krpc::CallFuture(&cntl, [&](auto* d) { stub.Echo(&cntl, &req, &resp, d); });
//
// Targets: "host:port", "static://h1:p1,h2:p2", "zk://zk1:2181,zk2:2181/krpc" (discovery; the
// service is named by the method called). Thread-safe; share one channel across threads.
#pragma once

#include <google/protobuf/service.h>

#include <chrono>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "krpc/client_options.h"
#include "krpc/client_stream.h"
#include "krpc/controller.h"
#include "krpc/endpoint_state.h"
#include "krpc/status.h"

namespace krpc {

class OptionSet;
class ClientRuntime;

struct ChannelOptions {
  int timeout_ms = 1000;                   // rpc_timeout_ms: default deadline of a call (all attempts)
  int zk_session_timeout_ms = 10000;       // for zk:// targets
  // Load balancing: round_robin | weighted_round_robin | random | p2c | consistent_hash.
  std::string load_balancer = "p2c";
  int latency_decay_ms = 2000;             // peak-EWMA time constant for p2c
  int panic_threshold_percent = 50;        // below this share of healthy endpoints, use them all

  ConnectionOptions connection;
  ReconnectBackoffOptions reconnect;
  PoolOptions pool;
  BreakerOptions breaker;
  RetryOptions retry;
  HedgingOptions hedging;
  OutlierOptions outlier;

  // Registers every field under its configuration key (docs/configuration.md).
  void Register(OptionSet& options);
};

// The numbers a channel reports per endpoint, declared once: EndpointInfo's fields, the client
// /status page and the client's per-endpoint /metrics families are generated from this list.
// STAT(type, name, init, metric, kind, merge, label, help)
//   metric  its family ("" = /status only); kind: Counter or Gauge
//   merge   how values of several channels reaching one endpoint combine: Sum, Max or Min
//   label   "key=value" for stats that are samples of one family ("" = none)
#define KRPC_ENDPOINT_STATS(STAT)                                                                                  \
  STAT(uint64_t, inflight, 0, "krpc_client_inflight_requests", Gauge, Sum, "", "Attempts in flight per endpoint")  \
  STAT(uint64_t, connects, 0, "krpc_client_connects_total", Counter, Sum, "", "Connections established per endpoint") \
  STAT(uint64_t, connect_failures, 0, "krpc_client_connect_failures_total", Counter, Sum, "",                       \
       "Failed connection attempts per endpoint (each one schedules a reconnect)")                                  \
  STAT(uint64_t, breaker_transitions, 0, "krpc_client_breaker_transitions_total", Counter, Sum, "",                 \
       "Breaker state changes per endpoint")                                                                         \
  STAT(int, weight, 100, "", Gauge, Max, "", "Its weight, from its registration")                                   \
  STAT(double, latency_ewma_us, 0, "", Gauge, Max, "", "Peak-EWMA latency, microseconds")                           \
  STAT(int, connections_active, 0, "krpc_client_pool_connections", Gauge, Sum, "state=active",                     \
       "Pooled connections per endpoint, by state (active, idle)")                                                   \
  STAT(int, connections_idle, 0, "krpc_client_pool_connections", Gauge, Sum, "state=idle",                         \
       "Pooled connections per endpoint, by state (active, idle)")                                                   \
  STAT(uint64_t, reuses, 0, "krpc_client_connection_reuses_total", Counter, Sum, "",                               \
       "Calls sent on an already open connection, per endpoint")                                                     \
  STAT(uint64_t, stalls, 0, "krpc_client_stalls_total", Counter, Sum, "",                                           \
       "Times an endpoint was found stalled (attempts out, no answer): no new calls, probed")                       \
  STAT(uint64_t, latency_ejections, 0, "krpc_client_latency_ejections_total", Counter, Sum, "",                     \
       "Ejections of an endpoint as a latency outlier")                                                              \
  STAT(double, slow_start, 1.0, "krpc_client_slow_start_share", Gauge, Min, "",                                     \
       "Share of a full load an endpoint may take now (below 1 in its slow-start ramp)")

// One declared endpoint statistic, as EndpointInfo::ForEach presents it.
struct EndpointStatView {
  enum class Kind { Counter, Gauge };
  enum class Merge { Sum, Max, Min };
  std::string_view name, metric;
  Kind kind;
  Merge merge;
  std::string_view label, help;
};

// State of one endpoint as the channel sees it.
struct EndpointInfo {
  std::string service;       // empty for static targets (every service)
  std::string address;       // "host:port"
  EndpointState state = EndpointState::kIdle;
  BreakerState breaker = BreakerState::kClosed;
  bool stalled = false;      // calls in flight, none completing: no new calls (outlier detection)
  std::map<std::string, uint64_t> tls_failures;  // failed TLS handshakes by reason (unknown_ca, ...)
#define KRPC_ENDPOINT_STAT_FIELD(type, name, init, metric, kind, merge, label, help) type name = init;
  KRPC_ENDPOINT_STATS(KRPC_ENDPOINT_STAT_FIELD)
#undef KRPC_ENDPOINT_STAT_FIELD

  // Calls f(const EndpointStatView&, value) for every declared statistic (value has its type).
  template <typename F>
  void ForEach(F&& f) const {
#define KRPC_ENDPOINT_STAT_VISIT(type, name, init, metric, kind, merge, label, help)                              \
  f(EndpointStatView{#name, metric, EndpointStatView::Kind::kind, EndpointStatView::Merge::merge, label, help}, name);
    KRPC_ENDPOINT_STATS(KRPC_ENDPOINT_STAT_VISIT)
#undef KRPC_ENDPOINT_STAT_VISIT
  }
};

// Every counter a channel keeps, declared once: the fields of ChannelStats and the client
// /status page (client_admin) are generated from this list. STAT(name, help)
#define KRPC_CHANNEL_STATS(STAT)                                                             \
  STAT(calls, "calls made")                                                                  \
  STAT(retries, "attempts retried by the retry policy")                                      \
  STAT(transparent_retries, "never-run attempts re-picked outside the retry policy")         \
  STAT(retry_budget_exhausted, "retries the retry budget refused")                           \
  STAT(ejections_refused, "breaker openings the ejection cap prevented")                     \
  STAT(panic_picks, "picks made over all endpoints because too few were healthy")            \
  STAT(per_try_timeouts, "attempts that ran out their per-try timeout")                      \
  STAT(hedges, "hedged attempts sent")                                                       \
  STAT(hedges_won, "calls whose answer came from a hedge")                                   \
  STAT(hedge_budget_exhausted, "hedges the hedge budget refused")                            \
  STAT(pushbacks, "overload refusals whose retry pushback delayed or forbade a retry")      \
  STAT(stalls, "endpoints found stalled (suspected at once)")                                \
  STAT(latency_ejections, "endpoints ejected as latency outliers")

struct ChannelStats {
#define KRPC_CHANNEL_STAT_FIELD(name, help) uint64_t name = 0;
  KRPC_CHANNEL_STATS(KRPC_CHANNEL_STAT_FIELD)
#undef KRPC_CHANNEL_STAT_FIELD
  // Calls f(std::string_view name, uint64_t value) for every counter, in declaration order.
  template <typename F>
  void ForEach(F&& f) const {
#define KRPC_CHANNEL_STAT_VISIT(name, help) f(std::string_view(#name), name);
    KRPC_CHANNEL_STATS(KRPC_CHANNEL_STAT_VISIT)
#undef KRPC_CHANNEL_STAT_VISIT
  }
};

class Channel : public google::protobuf::RpcChannel, public std::enable_shared_from_this<Channel> {
 public:
  // `runtime` supplies I/O threads (and the ZooKeeper session for zk:// targets); a channel
  // makes its own single-threaded runtime when none is given.
  static StatusOr<std::shared_ptr<Channel>> Create(const std::string& target, ChannelOptions options,
                                                   std::shared_ptr<ClientRuntime> runtime = nullptr);
  ~Channel() override;

  // google::protobuf::RpcChannel. `controller` must be a krpc::Controller. With done ==
  // nullptr the call blocks; otherwise it returns at once and `done` runs on an I/O thread.
  void CallMethod(const google::protobuf::MethodDescriptor* method, google::protobuf::RpcController* controller,
                  const google::protobuf::Message* request, google::protobuf::Message* response,
                  google::protobuf::Closure* done) override;

  // Opens a streaming call of `method` (server, client or bidi streaming; krpc/client_stream.h).
  // `controller` carries its metadata and deadline (none unless set: the channel's timeout_ms
  // is for unary calls) and must outlive the stream's end (Finish).
  std::shared_ptr<ClientStream> OpenStream(const google::protobuf::MethodDescriptor* method, Controller* controller);

  // Endpoint states, for status pages and `krpc status`.
  std::vector<EndpointInfo> Endpoints() const;
  // Waits until the channel knows at least one endpoint of `service` (zk:// targets resolve
  // a service on first use); OK at once for static targets.
  Status WaitForEndpoints(const std::string& service, std::chrono::milliseconds timeout);
  const std::string& target() const;
  ChannelStats stats() const;
  // Fails pending calls with UNAVAILABLE and closes every connection. Idempotent.
  void Shutdown();

 private:
  struct Impl;
  explicit Channel(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

// Runs `invoke` with a `done` closure and returns a future of the call's status.
std::future<Status> CallFuture(Controller* controller,
                               const std::function<void(google::protobuf::Closure* done)>& invoke);

}  // namespace krpc
