// The parts of a channel's options, each declared once and used as they are by the piece
// that owns the concern (ChannelOptions composes them). The configuration keys they are
// registered under are in docs/configuration.md; times are in milliseconds.
#pragma once

#include <cstdint>
#include <string>

#include "krpc/net/tls_options.h"

namespace krpc {

class OptionSet;

// The wire a channel speaks to its endpoints: krpc's framed protocol, or gRPC over HTTP/2.
enum class WireProtocol { kKrpc, kGrpc };
inline constexpr EnumName<WireProtocol> kWireProtocolNames[] = {{"krpc", WireProtocol::kKrpc},
                                                                {"grpc", WireProtocol::kGrpc}};
inline std::string_view ToString(WireProtocol p) { return NameOf(kWireProtocolNames, p); }

// One connection to an endpoint (the transport).
struct ConnectionOptions {
  int connect_timeout_ms = 200;        // connect_timeout_ms
  uint32_t max_body_bytes = 4u << 20;  // max_body_bytes: largest request/response body
  int heartbeat_interval_ms = 5000;    // heartbeat_interval_ms: PING after this long without sending
  int heartbeat_miss_limit = 3;        // heartbeat_miss_limit: close after interval*(limit+1) without receiving
  // max_queued_request_bytes: request bytes a connection holds unanswered (waiting to be
  // written, on the wire, or at the server). Beyond it further requests wait unencoded, in
  // order, until answers make room; one whose deadline passes meanwhile is dropped unsent
  // (DEADLINE_EXCEEDED, not executed), so an overloaded path queues where waiting is free. The
  // pool opens another connection when the least busy one is this full.
  uint32_t max_queued_request_bytes = 8u << 20;
  WireProtocol protocol = WireProtocol::kKrpc;  // protocol: krpc, or grpc (gRPC over HTTP/2) to call gRPC servers
  bool tls_enabled = false;            // tls: TLS to every endpoint (ALPN "krpc" or "h2")
  // tls_server_name: the name the servers' certificates must carry (a DNS name or IP in their
  // subject alternative names); empty = the endpoint's host. Set it for endpoints found in
  // ZooKeeper (registered by IP) to the service's certificate name.
  std::string tls_server_name;
  TlsOptions tls;  // tls_ca_file (empty: the system CAs), tls_cert_file + tls_key_file (mutual TLS), ...

  // tls, tls_server_name and the TlsOptions keys (tools that take only these use it).
  void RegisterTls(OptionSet& o);
};

// Delay before reconnecting to an endpoint whose connect failed:
// initial * multiplier^n, +- jitter, at most max; reset once connected.
struct ReconnectBackoffOptions {
  int initial_ms = 1000;    // reconnect_backoff_initial_ms
  double multiplier = 1.6;  // reconnect_backoff_multiplier
  double jitter = 0.2;      // reconnect_backoff_jitter
  int max_ms = 30000;       // reconnect_backoff_max_ms
};

// Multiplexed connections per endpoint.
struct PoolOptions {
  bool enabled = true;                    // enable_connection_pool
  int max_size = 4;                       // connection_pool_max_size
  int max_idle = 2;                       // connection_pool_max_idle
  int idle_timeout_ms = 60000;            // connection_idle_timeout_ms (0 = never)
  int max_streams_per_connection = 256;   // max_streams_per_connection: open another beyond this
};

// Outlier detection per endpoint: the circuit breaker, its probes, and the share of a
// route's endpoints that may be ejected at once.
struct BreakerOptions {
  bool enabled = true;              // breaker_enabled
  int consecutive_failures = 5;     // breaker_consecutive_failures
  double error_rate = 0.5;          // breaker_error_rate: trips above this share of failures...
  int min_requests = 20;            // breaker_min_requests: ...when the window holds this many calls
  int window_ms = 10000;            // breaker_window_ms
  int base_isolation_ms = 100;      // breaker_base_isolation_ms (doubles, with jitter, per re-open)
  int max_isolation_ms = 30000;     // breaker_max_isolation_ms
  int half_open_probes = 3;         // breaker_half_open_probes: health probes that must pass
  int probe_timeout_ms = 500;       // health_probe_timeout_ms
  int max_ejection_percent = 50;    // max_ejection_percent
};

// Retries: the deadline covers all attempts; DEADLINE_EXCEEDED of the call is never retried,
// a per-try timeout is (for idempotent calls: the attempt may have run).
struct RetryOptions {
  int max_attempts = 3;                                // max_attempts (1 = no retries)
  std::string codes = "UNAVAILABLE,RESOURCE_EXHAUSTED";  // retry_codes
  std::string idempotent_methods;                      // "/pkg.Svc/Method,..." safe to retry after they may have run
  int backoff_base_ms = 20;                            // retry_backoff_base_ms: random(0, min(base * 2^(n-1), max))
  int backoff_max_ms = 1000;                           // retry_backoff_max_ms
  double budget_ratio = 0.2;                           // retry_budget_ratio: retries <= ratio * requests...
  double budget_min_per_second = 10;                   // retry_budget_min_per_second: ...+ this * 10 s
  int per_try_timeout_ms = 0;                          // per_try_timeout_ms: one attempt's deadline (0 = the call's)
  std::string method_per_try_timeout_ms;               // "/pkg.Svc/Method=ms,...": per-method per-try timeouts
};

// Hedged requests (gRFC A6, brpc's backup requests): an idempotent call whose attempt has not
// answered after the hedging delay gets another attempt on a different endpoint; the first
// answer wins and the others are cancelled. Hedges are limited by their own budget.
struct HedgingOptions {
  bool enabled = true;           // hedging_enabled (idempotent calls only)
  int delay_ms = 0;              // hedge_delay_ms: fixed delay; 0 = adaptive (the percentile below)
  double percentile = 95;        // hedge_percentile: adaptive delay = this percentile of the method's latency
  int min_delay_ms = 2;          // hedge_min_delay_ms: floor of the adaptive delay
  int min_samples = 100;         // hedge_min_samples: calls of the method seen before adaptive hedging starts
  int max_hedges = 1;            // max_hedges: extra attempts in flight at once per call (1..2)
  double budget_percent = 10;    // hedge_budget_percent: hedges <= this % of requests (over 10 s)
};

// Outlier detection beyond the breaker: stalls (a frozen or cut-off endpoint: calls in flight,
// none completing), latency outliers (much slower than the route's other endpoints), and
// slow start (a joining or returning endpoint ramps up its share of calls).
struct OutlierOptions {
  double stall_factor = 4;           // outlier_stall_factor: nothing completed for factor x the route's p99...
  int stall_min_ms = 100;            // outlier_stall_min_ms: ...and this long, with calls in flight: suspect
  int interval_ms = 1000;            // outlier_interval_ms: latency outlier sweep period (0 = off)
  double latency_factor = 5;         // outlier_latency_factor: eject above factor x the peers' median latency...
  int latency_min_ms = 50;           // outlier_latency_min_ms: ...when also above this
  int latency_min_samples = 5;       // outlier_latency_min_samples: calls in the interval to judge an endpoint
  int slow_start_ms = 3000;          // slow_start_window_ms: ramp of a joining or returning endpoint (0 = off)
  int slow_start_min_percent = 10;   // slow_start_min_percent: its share at the start of the ramp
};

}  // namespace krpc
