// ServerMetrics: Prometheus metrics for a Server (a ServerObserver). Per-call series are
// pushed through cached metric pointers (no lookup by name on the call path); the in-flight
// and connection gauges are pulled at scrape time. See docs/metrics.md.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "krpc/method_series.h"
#include "krpc/metrics.h"
#include "krpc/server.h"

namespace krpc {

class ServerMetrics final : public ServerObserver {
 public:
  // `server` (optional, must outlive this) supplies the in-flight and connection gauges.
  explicit ServerMetrics(Metrics& metrics, const Server* server = nullptr);

  void* OnMethodRegistered(std::string_view service, std::string_view method, std::string_view protocol) override;
  void OnConnectionOpened() override;
  void OnConnectionClosed(std::string_view reason) override;
  void OnFrameError(std::string_view reason) override;
  void OnBytes(size_t received, size_t sent) override;
  void OnCallStarted(void* method) override;
  void OnCallFinished(void* method, StatusCode code, std::chrono::nanoseconds elapsed) override;
  void OnTlsHandshake(std::string_view result) override;
  void OnAuthzDenied(std::string_view service, std::string_view method) override;

 private:
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Histogram>& duration_;
  prometheus::Counter& accepted_;
  prometheus::Counter& idle_closed_;
  prometheus::Counter& received_;
  prometheus::Counter& sent_;
  prometheus::Family<prometheus::Counter>& frame_errors_;
  prometheus::Family<prometheus::Counter>& tls_handshakes_;
  prometheus::Family<prometheus::Counter>& authz_denied_;
  std::mutex mu_;
  std::vector<std::unique_ptr<MethodSeries>> methods_;
  std::unordered_map<std::string, prometheus::Counter*> frame_error_by_reason_;
  std::shared_ptr<void> collector_;
};

}  // namespace krpc
