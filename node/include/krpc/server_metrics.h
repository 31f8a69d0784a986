// ServerMetrics: Prometheus metrics for a Server (a ServerObserver). Per-call series and byte
// counters are added to per-thread shards through cached pointers (no lookup by name, no shared
// cache line on the call path) and merged at scrape time; every statistic KRPC_SERVER_STATS
// declares with a metric name (gauges and counters alike) is pulled from Server::stats() at
// scrape time. See docs/metrics.md.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "krpc/method_series.h"
#include "krpc/metrics.h"
#include "krpc/server.h"
#include "krpc/sharded_counter.h"

namespace krpc {

class ServerMetrics final : public ServerObserver {
 public:
  // `server` (optional, must outlive this) supplies the declared statistics (server_stats.h).
  explicit ServerMetrics(Metrics& metrics, const Server* server = nullptr);

  void* OnMethodRegistered(std::string_view service, std::string_view method, std::string_view protocol) override;
  void OnFrameError(std::string_view reason) override;
  void OnBytes(size_t received, size_t sent) override;
  void OnCallStarted(void* method) override;
  void OnCallFinished(void* method, StatusCode code, std::chrono::nanoseconds elapsed) override;
  void OnTlsHandshake(std::string_view result) override;
  void OnAuthzDenied(std::string_view service, std::string_view method) override;

 private:
  MethodSeriesFamily methods_;
  ShardedCounter received_;  // per read batch and per write: on the call path
  ShardedCounter sent_;
  prometheus::Family<prometheus::Counter>& frame_errors_;
  prometheus::Family<prometheus::Counter>& tls_handshakes_;
  prometheus::Family<prometheus::Counter>& authz_denied_;
  std::unordered_map<std::string, prometheus::Counter*> frame_error_by_reason_;
  std::shared_ptr<void> collector_;
};

}  // namespace krpc
