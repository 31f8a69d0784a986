// ChannelOptions: the option names a config file or command line uses (docs/configuration.md).
#include "krpc/channel.h"
#include "krpc/codec/frame.h"
#include "krpc/config.h"

namespace krpc {

void ConnectionOptions::RegisterTls(OptionSet& o) {
  o.AddBool("tls", &tls_enabled, "TLS to the endpoints (verified against tls_ca_file and the server's name)");
  o.AddString("tls_server_name", &tls_server_name, "name the servers' certificates must carry (default: the endpoint's host)");
  tls.Register(o);
}

void ChannelOptions::Register(OptionSet& o) {
  o.AddInt("rpc_timeout_ms", &timeout_ms, 0, 3600000, "default deadline of a call, covering all attempts (0 = none)");
  o.AddInt("connect_timeout_ms", &connection.connect_timeout_ms, 1, 600000, "TCP connect timeout");
  o.AddUint("max_body_bytes", &connection.max_body_bytes, 1024, codec::kHardMaxBodyBytes, "largest request/response body");
  o.AddInt("heartbeat_interval_ms", &connection.heartbeat_interval_ms, 10, 3600000, "PING after this long without sending");
  o.AddUint("max_queued_request_bytes", &connection.max_queued_request_bytes, 4096, 1u << 30,
            "unanswered request bytes per connection beyond which requests wait unencoded (dropped if they expire)");
  o.AddEnum("protocol", &connection.protocol, kWireProtocolNames, "wire protocol to the endpoints: krpc, or grpc (gRPC over HTTP/2)");
  connection.RegisterTls(o);
  o.AddInt("heartbeat_miss_limit", &connection.heartbeat_miss_limit, 1, 100, "close after interval*(limit+1) without receiving");
  o.AddInt("reconnect_backoff_initial_ms", &reconnect.initial_ms, 1, 600000, "first reconnect delay");
  o.AddDouble("reconnect_backoff_multiplier", &reconnect.multiplier, 1.0, 10.0, "delay growth per failure");
  o.AddDouble("reconnect_backoff_jitter", &reconnect.jitter, 0.0, 1.0, "random spread of each delay");
  o.AddInt("reconnect_backoff_max_ms", &reconnect.max_ms, 1, 3600000, "largest reconnect delay");
  o.AddInt("zk_session_timeout_ms", &zk_session_timeout_ms, 1000, 600000, "ZooKeeper session timeout (zk:// targets)");
  o.AddInt("latency_decay_ms", &latency_decay_ms, 1, 600000, "time constant of the peak-EWMA latency (p2c)");
  o.AddChoice("load_balancer", &load_balancer, {"round_robin", "weighted_round_robin", "random", "p2c", "consistent_hash"},
              "load-balancing policy");
  o.AddInt("max_attempts", &retry.max_attempts, 1, 10, "attempts per call including retries");
  o.AddString("retry_codes", &retry.codes, "status codes retried (comma separated; DEADLINE_EXCEEDED never is)");
  o.AddString("idempotent_methods", &retry.idempotent_methods, "/pkg.Svc/Method list safe to retry after they may have run");
  o.AddInt("retry_backoff_base_ms", &retry.backoff_base_ms, 0, 60000, "retry backoff base");
  o.AddInt("retry_backoff_max_ms", &retry.backoff_max_ms, 0, 600000, "retry backoff cap");
  o.AddDouble("retry_budget_ratio", &retry.budget_ratio, 0, 10, "retries allowed per request over 10 s");
  o.AddDouble("retry_budget_min_per_second", &retry.budget_min_per_second, 0, 100000, "retries always allowed per second");
  o.AddInt("per_try_timeout_ms", &retry.per_try_timeout_ms, 0, 3600000, "deadline of one attempt (0 = the call's)");
  o.AddString("method_per_try_timeout_ms", &retry.method_per_try_timeout_ms, "/pkg.Svc/Method=ms,... per-method per-try timeouts");
  o.AddBool("hedging_enabled", &hedging.enabled, "hedged requests for idempotent calls");
  o.AddInt("hedge_delay_ms", &hedging.delay_ms, 0, 3600000, "fixed hedging delay (0 = adaptive)");
  o.AddDouble("hedge_percentile", &hedging.percentile, 50, 99.9, "adaptive hedging delay: this latency percentile of the method");
  o.AddInt("hedge_min_delay_ms", &hedging.min_delay_ms, 0, 3600000, "floor of the adaptive hedging delay");
  o.AddInt("hedge_min_samples", &hedging.min_samples, 1, 1000000, "calls of a method seen before adaptive hedging starts");
  o.AddInt("max_hedges", &hedging.max_hedges, 1, 2, "hedged attempts in flight at once per call");
  o.AddDouble("hedge_budget_percent", &hedging.budget_percent, 0, 100, "hedges allowed, in % of requests over 10 s");
  o.AddDouble("outlier_stall_factor", &outlier.stall_factor, 1, 1000, "stalled: nothing completed for this x the route's p99");
  o.AddInt("outlier_stall_min_ms", &outlier.stall_min_ms, 1, 3600000, "...and for at least this long");
  o.AddInt("outlier_interval_ms", &outlier.interval_ms, 0, 3600000, "latency outlier sweep period (0 = off)");
  o.AddDouble("outlier_latency_factor", &outlier.latency_factor, 1.5, 1000, "eject above this x the peers' median latency");
  o.AddInt("outlier_latency_min_ms", &outlier.latency_min_ms, 0, 3600000, "...when also above this");
  o.AddInt("outlier_latency_min_samples", &outlier.latency_min_samples, 1, 1000000, "calls in an interval to judge an endpoint");
  o.AddInt("slow_start_window_ms", &outlier.slow_start_ms, 0, 3600000, "ramp time of a joining or returning endpoint (0 = off)");
  o.AddInt("slow_start_min_percent", &outlier.slow_start_min_percent, 1, 100, "share at the start of the ramp");
  o.AddBool("breaker_enabled", &breaker.enabled, "per-endpoint circuit breakers");
  o.AddInt("breaker_consecutive_failures", &breaker.consecutive_failures, 1, 100000, "open after this many failures in a row");
  o.AddDouble("breaker_error_rate", &breaker.error_rate, 0.0, 1.0, "open above this failure share in the window");
  o.AddInt("breaker_min_requests", &breaker.min_requests, 1, 1000000, "calls in the window before the rate counts");
  o.AddInt("breaker_window_ms", &breaker.window_ms, 1000, 64000, "error-rate window");
  o.AddInt("breaker_base_isolation_ms", &breaker.base_isolation_ms, 1, 3600000, "first isolation time (doubles)");
  o.AddInt("breaker_max_isolation_ms", &breaker.max_isolation_ms, 1, 3600000, "longest isolation time");
  o.AddInt("breaker_half_open_probes", &breaker.half_open_probes, 1, 100, "health probes that must pass to close");
  o.AddInt("health_probe_timeout_ms", &breaker.probe_timeout_ms, 1, 600000, "deadline of one health probe");
  o.AddInt("max_ejection_percent", &breaker.max_ejection_percent, 0, 100, "most endpoints that may be ejected at once");
  o.AddInt("panic_threshold_percent", &panic_threshold_percent, 0, 100, "below this healthy share, use every endpoint");
  o.AddBool("enable_connection_pool", &pool.enabled, "several multiplexed connections per endpoint");
  o.AddInt("connection_pool_max_size", &pool.max_size, 1, 1024, "connections per endpoint");
  o.AddInt("connection_pool_max_idle", &pool.max_idle, 0, 1024, "idle connections kept per endpoint");
  o.AddInt("connection_idle_timeout_ms", &pool.idle_timeout_ms, 0, 86400000, "close idle connections after (0 = never)");
  o.AddInt("max_streams_per_connection", &pool.max_streams_per_connection, 1, 1000000, "calls per connection before the pool opens another");
}

}  // namespace krpc
