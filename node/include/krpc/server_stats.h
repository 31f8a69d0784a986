// ServerStats: every statistic a Server keeps, declared once (the idea of Envoy's
// ALL_HOST_STATS): the fields of ServerStats, krpc-node's /status and the server's /metrics
// families (read by the web console) are all generated from KRPC_SERVER_STATS, so a new
// statistic is one line here and cannot be shown in one place and forgotten in another.
#pragma once

#include <cstdint>
#include <string_view>

namespace krpc {

// STAT(type, name, kind, group, key, metric, labels, help)
//   kind    Counter, Gauge, Timestamp (a gauge exported only when set), or Micros (a gauge kept
//           in microseconds, exported in seconds)
//   group   the /status object it is shown in, under `key`
//   metric  its Prometheus family; "" when ServerMetrics exports it per label (reason,
//           result, method) as the events happen. Stats naming one family with different
//           `labels` are samples of that family.
//   labels  the sample's label: a value of `result`, or "name=value"
#define KRPC_SERVER_STATS(STAT)                                                                                       \
  STAT(uint64_t, connections_open, Gauge, "connections", "open", "krpc_server_connections", "",                       \
       "Open client connections")                                                                                     \
  STAT(uint64_t, connections_accepted, Counter, "connections", "accepted", "krpc_server_connections_accepted_total",  \
       "", "Connections accepted")                                                                                    \
  STAT(uint64_t, connections_rejected, Counter, "connections", "rejected", "krpc_server_connections_rejected_total",  \
       "", "Connections refused with GOAWAY over max_connections")                                                    \
  STAT(uint64_t, idle_closed, Counter, "connections", "idle_closed", "krpc_server_idle_closed_total", "",             \
       "Connections closed for idleness (the idle kick, or no first byte within the idle limit)")                     \
  STAT(uint64_t, frame_errors, Counter, "connections", "frame_errors", "", "",                                        \
       "Connections closed for a protocol error (krpc_server_frame_errors_total has them by reason)")                 \
  STAT(uint64_t, accept_errors, Counter, "connections", "accept_errors", "krpc_server_accept_errors_total", "",       \
       "Failed accepts (out of descriptors, ...), each followed by a backoff")                                        \
  STAT(uint64_t, pending_frame_bytes, Gauge, "connections", "pending_frame_bytes",                                    \
       "krpc_server_pending_frame_bytes", "", "Memory held for partly received frames (max_pending_frame_bytes)")     \
  STAT(uint64_t, calls_inflight, Gauge, "calls", "inflight", "krpc_server_inflight_requests", "",                     \
       "Calls being handled")                                                                                         \
  STAT(uint64_t, calls_total, Counter, "calls", "total", "", "",                                                      \
       "Calls received, answered or refused (krpc_server_requests_total has them by method and code)")                \
  STAT(uint64_t, handler_exceptions, Counter, "calls", "handler_exceptions", "krpc_server_handler_exceptions_total",  \
       "", "Handlers that threw (answered INTERNAL)")                                                                 \
  STAT(uint64_t, drain_timeouts, Counter, "calls", "drain_timeouts", "krpc_server_drain_timeouts_total", "",          \
       "Graceful stops whose drain timed out with calls in flight")                                                   \
  STAT(uint64_t, authz_denied, Counter, "calls", "authz_denied", "", "",                                              \
       "Calls refused PERMISSION_DENIED by authz_allow (krpc_server_authz_denied_total has them by method)")          \
  STAT(uint64_t, replies_dropped, Counter, "calls", "replies_dropped", "krpc_server_replies_dropped_total", "",       \
       "Replies not sent (cancelled) or sent without their body (expired) because the caller had given up")           \
  STAT(uint64_t, overload_refused, Counter, "overload", "refused", "krpc_server_overload_refused_total", "",          \
       "Calls refused RESOURCE_EXHAUSTED by a concurrency limit (max_inflight, auto, method_max_inflight)")           \
  STAT(uint64_t, early_refused, Counter, "overload", "early_refused", "krpc_server_early_refused_total", "",          \
       "Calls refused because their remaining deadline was below the method's median handler time")                   \
  STAT(int64_t, adaptive_limit, Gauge, "overload", "adaptive_limit", "krpc_server_adaptive_limit", "",                \
       "The node's adaptive concurrency limit (max_inflight=auto; 0 when fixed)")                                     \
  STAT(int64_t, adaptive_min_latency_us, Micros, "overload", "min_latency_us",                                        \
       "krpc_server_adaptive_min_latency_seconds", "", "The no-load latency the adaptive limit measured")             \
  STAT(uint64_t, streams_open, Gauge, "streams", "open", "krpc_server_streams_open", "",                              \
       "Streaming calls open (server, client and bidi streams)")                                                      \
  STAT(uint64_t, stream_messages_received, Counter, "streams", "messages_received",                                   \
       "krpc_server_stream_messages_total", "direction=received", "Messages of streaming calls, by direction")        \
  STAT(uint64_t, stream_messages_sent, Counter, "streams", "messages_sent", "krpc_server_stream_messages_total",      \
       "direction=sent", "Messages of streaming calls, by direction")                                                 \
  STAT(uint64_t, stream_writes_waiting, Gauge, "streams", "writes_waiting", "krpc_server_stream_writes_waiting", "",  \
       "Stream writes held back because the client is not reading (its window is shut)")                              \
  STAT(uint64_t, tls_handshakes, Counter, "tls", "handshakes", "", "",                                                \
       "TLS handshakes completed (krpc_server_tls_handshakes_total has them by result)")                              \
  STAT(uint64_t, tls_failures, Counter, "tls", "failures", "", "",                                                    \
       "TLS handshakes failed, and plaintext refused in strict mode")                                                 \
  STAT(uint64_t, tls_reloads, Counter, "tls", "reloads", "krpc_server_tls_reloads_total", "ok",                       \
       "Certificate reloads after start, by result (ok; failed keeps the previous files)")                            \
  STAT(uint64_t, tls_reload_failures, Counter, "tls", "reload_failures", "krpc_server_tls_reloads_total", "failed",   \
       "Certificate reloads after start, by result (ok; failed keeps the previous files)")                            \
  STAT(int64_t, tls_cert_not_after, Timestamp, "tls", "cert_not_after",                                               \
       "krpc_server_tls_certificate_expiry_timestamp_seconds", "",                                                    \
       "When the served TLS certificate expires (unix time)")

enum class StatKind { Counter, Gauge, Timestamp, Micros };

// One statistic's declaration and value, as ServerStats::ForEach presents it.
struct StatView {
  std::string_view name;
  StatKind kind;
  std::string_view group, key, metric, labels, help;
  int64_t value;  // every statistic is a whole number
};

struct ServerStats {
#define KRPC_STAT_FIELD(type, name, kind, group, key, metric, labels, help) type name = 0;
  KRPC_SERVER_STATS(KRPC_STAT_FIELD)
#undef KRPC_STAT_FIELD

  // Calls f(const StatView&) for every statistic, in declaration order.
  template <typename F>
  void ForEach(F&& f) const {
#define KRPC_STAT_VISIT(type, name, kind, group, key, metric, labels, help)                                           \
  f(StatView{#name, StatKind::kind, group, key, metric, labels, help, static_cast<int64_t>(name)});
    KRPC_SERVER_STATS(KRPC_STAT_VISIT)
#undef KRPC_STAT_VISIT
  }
};

}  // namespace krpc
