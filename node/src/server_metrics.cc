#include "krpc/server_metrics.h"

#include <algorithm>
#include <map>

namespace krpc {
using prometheus::BuildCounter;
using prometheus::MetricType;

ServerMetrics::ServerMetrics(Metrics& m, const Server* server)
    : methods_(m, {"krpc_server_requests_total", "Calls answered, by service, method, protocol (krpc, grpc) and status code",
                   "krpc_server_request_duration_seconds", "Time from a request's arrival to its response"}),
      frame_errors_(BuildCounter().Name("krpc_server_frame_errors_total").Help("Connections closed for a protocol error, by reason").Register(m.registry())),
      tls_handshakes_(BuildCounter().Name("krpc_server_tls_handshakes_total").Help("TLS handshakes on the RPC port, by result: ok, or why they failed (unknown_ca, no_client_cert, plaintext_refused, ...)").Register(m.registry())),
      authz_denied_(BuildCounter().Name("krpc_server_authz_denied_total").Help("Calls refused PERMISSION_DENIED by authz_allow, by service and method").Register(m.registry())) {
  for (const char* reason : {"bad_magic", "bad_version", "bad_type", "header_too_large", "body_too_large",
                             "header_exceeds_frame", "malformed_header", "unexpected_frame", "frame_timeout",
                             "memory_budget", "http2", "stream_credit"}) {
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
      // The statistics declared with a metric name (KRPC_SERVER_STATS), read at scrape time;
      // stats naming one family are its samples, told apart by a label (`result`, or
      // the one their `labels` names: "direction=sent").
      std::vector<std::pair<std::string_view, FamilyBuilder>> families;
      server->stats().ForEach([&](const StatView& v) {
        if (v.metric.empty() || (v.kind == StatKind::Timestamp && v.value == 0)) return;
        auto it = std::find_if(families.begin(), families.end(), [&](const auto& f) { return f.first == v.metric; });
        if (it == families.end()) {
          const auto type = v.kind == StatKind::Counter ? MetricType::Counter : MetricType::Gauge;
          it = families.insert(families.end(), {v.metric, FamilyBuilder(std::string(v.metric), std::string(v.help), type)});
        }
        std::map<std::string, std::string> labels;
        if (const auto eq = v.labels.find('='); eq != std::string_view::npos) {
          labels[std::string(v.labels.substr(0, eq))] = std::string(v.labels.substr(eq + 1));
        } else if (!v.labels.empty()) {
          labels["result"] = std::string(v.labels);
        }
        it->second.Add(labels, static_cast<double>(v.value) / (v.kind == StatKind::Micros ? 1e6 : 1.0));
      });
      for (auto& [name, family] : families) out.push_back(std::move(family).Build());
    }
    return out;
  });
}

void* ServerMetrics::OnMethodRegistered(std::string_view service, std::string_view method, std::string_view protocol) {
  return &methods_.Add(
      {{"service", std::string(service)}, {"method", std::string(method)}, {"protocol", std::string(protocol)}});
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
