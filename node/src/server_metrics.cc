#include "krpc/server_metrics.h"

namespace krpc {
using prometheus::BuildCounter;
using prometheus::MetricType;

ServerMetrics::ServerMetrics(Metrics& m, const Server* server)
    : methods_(m, {"krpc_server_requests_total", "Calls answered, by service, method, protocol (krpc, grpc) and status code",
                   "krpc_server_request_duration_seconds", "Time from a request's arrival to its response"}),
      accepted_(BuildCounter().Name("krpc_server_connections_accepted_total").Help("Connections accepted").Register(m.registry()).Add({})),
      idle_closed_(BuildCounter().Name("krpc_server_idle_closed_total").Help("Connections closed by the idle kick (no traffic for heartbeat_interval_ms*(heartbeat_miss_limit+1))").Register(m.registry()).Add({})),
      frame_errors_(BuildCounter().Name("krpc_server_frame_errors_total").Help("Connections closed for a protocol error, by reason").Register(m.registry())),
      tls_handshakes_(BuildCounter().Name("krpc_server_tls_handshakes_total").Help("TLS handshakes on the RPC port, by result: ok, or why they failed (unknown_ca, no_client_cert, plaintext_refused, ...)").Register(m.registry())),
      authz_denied_(BuildCounter().Name("krpc_server_authz_denied_total").Help("Calls refused PERMISSION_DENIED by authz_allow, by service and method").Register(m.registry())) {
  for (const char* reason : {"bad_magic", "bad_version", "bad_type", "header_too_large", "body_too_large",
                             "header_exceeds_frame", "malformed_header", "unexpected_frame", "frame_timeout",
                             "memory_budget", "http2"}) {
    frame_error_by_reason_[reason] = &frame_errors_.Add({{"reason", reason}});
  }
  // Gauges the server already counts are read at scrape time, not pushed on every call.
  collector_ = m.AddCollector([this, server] {
    std::vector<prometheus::MetricFamily> out;
    out.push_back(FamilyBuilder("krpc_server_received_bytes_total", "Bytes read from clients", MetricType::Counter)
                      .Add({}, static_cast<double>(received_.Read())).Build());
    out.push_back(FamilyBuilder("krpc_server_sent_bytes_total", "Bytes written to clients", MetricType::Counter)
                      .Add({}, static_cast<double>(sent_.Read())).Build());
    if (server) {
      const auto st = server->stats();
      out.push_back(FamilyBuilder("krpc_server_inflight_requests", "Calls being handled", MetricType::Gauge)
                        .Add({}, static_cast<double>(st.calls_inflight)).Build());
      out.push_back(FamilyBuilder("krpc_server_connections", "Open client connections", MetricType::Gauge)
                        .Add({}, static_cast<double>(st.connections_open)).Build());
      if (st.tls_cert_not_after > 0) {
        out.push_back(FamilyBuilder("krpc_server_tls_certificate_expiry_timestamp_seconds",
                                    "When the served TLS certificate expires (unix time)", MetricType::Gauge)
                          .Add({}, static_cast<double>(st.tls_cert_not_after)).Build());
        out.push_back(FamilyBuilder("krpc_server_tls_reloads_total",
                                    "Certificate reloads after start, by result (ok; failed keeps the previous files)",
                                    MetricType::Counter)
                          .Add({{"result", "ok"}}, static_cast<double>(st.tls_reloads))
                          .Add({{"result", "failed"}}, static_cast<double>(st.tls_reload_failures)).Build());
      }
    }
    return out;
  });
}

void* ServerMetrics::OnMethodRegistered(std::string_view service, std::string_view method, std::string_view protocol) {
  return &methods_.Add(
      {{"service", std::string(service)}, {"method", std::string(method)}, {"protocol", std::string(protocol)}});
}

void ServerMetrics::OnConnectionOpened() { accepted_.Increment(); }

void ServerMetrics::OnConnectionClosed(std::string_view reason) {
  if (reason == "idle") idle_closed_.Increment();
}

void ServerMetrics::OnFrameError(std::string_view reason) {
  auto it = frame_error_by_reason_.find(std::string(reason));
  if (it != frame_error_by_reason_.end()) it->second->Increment();
}

void ServerMetrics::OnBytes(size_t received, size_t sent) {
  if (received) received_.Add(received);
  if (sent) sent_.Add(sent);
}

void ServerMetrics::OnCallStarted(void*) {}

// Rare events (a handshake per connection, a denied call): a labelled lookup is fine here.
void ServerMetrics::OnTlsHandshake(std::string_view result) {
  tls_handshakes_.Add({{"result", std::string(result)}}).Increment();
}

void ServerMetrics::OnAuthzDenied(std::string_view service, std::string_view method) {
  authz_denied_.Add({{"service", std::string(service)}, {"method", std::string(method)}}).Increment();
}

void ServerMetrics::OnCallFinished(void* method, StatusCode code, std::chrono::nanoseconds elapsed) {
  if (method) static_cast<MethodSeries*>(method)->Record(code, elapsed);
}

}  // namespace krpc
