// Prometheus metrics for the RPC path: ServerMetrics observes a Server, ClientMetrics observes
// the channels of a ClientRuntime. Per-call series are pushed through cached metric pointers
// (no lookup by name on the call path); per-endpoint state (breakers, pools) is pulled at
// scrape time, so an endpoint that left takes its series with it. See docs/metrics.md.
#pragma once

#include <array>
#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "krpc/client_observer.h"
#include "krpc/impl/snapshot.h"
#include "krpc/metrics.h"
#include "krpc/server.h"

namespace krpc {

class ClientRuntime;

// Per (service, method): request counters by code (created on first use) and a histogram.
class MethodSeries {
 public:
  MethodSeries(prometheus::Family<prometheus::Counter>& requests, prometheus::Histogram& duration,
               std::map<std::string, std::string> labels)
      : requests_(requests), duration_(duration), labels_(std::move(labels)) {}
  void Record(StatusCode code, std::chrono::nanoseconds elapsed);

 private:
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Histogram& duration_;
  std::map<std::string, std::string> labels_;
  std::mutex mu_;
  std::array<std::atomic<prometheus::Counter*>, 17> by_code_{};
};

class ServerMetrics final : public ServerObserver {
 public:
  // `server` (optional, must outlive this) supplies the in-flight and connection gauges.
  explicit ServerMetrics(Metrics& metrics, const Server* server = nullptr);

  void* OnMethodRegistered(std::string_view service, std::string_view method) override;
  void OnConnectionOpened() override;
  void OnConnectionClosed(std::string_view reason) override;
  void OnFrameError(std::string_view reason) override;
  void OnBytes(size_t received, size_t sent) override;
  void OnCallStarted(void* method) override;
  void OnCallFinished(void* method, StatusCode code, std::chrono::nanoseconds elapsed) override;

 private:
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Histogram>& duration_;
  prometheus::Counter& accepted_;
  prometheus::Counter& idle_closed_;
  prometheus::Counter& received_;
  prometheus::Counter& sent_;
  prometheus::Family<prometheus::Counter>& frame_errors_;
  std::mutex mu_;
  std::vector<std::unique_ptr<MethodSeries>> methods_;
  std::unordered_map<std::string, prometheus::Counter*> frame_error_by_reason_;
  std::shared_ptr<void> collector_;
};

class ClientMetrics final : public ClientObserver {
 public:
  // Registers push series in `metrics` and a collector reading `runtime`'s channels.
  ClientMetrics(Metrics& metrics, std::shared_ptr<ClientRuntime> runtime);

  void OnCallFinished(const google::protobuf::MethodDescriptor* method, StatusCode code,
                      std::chrono::nanoseconds latency, int attempts) override;
  void OnRetry(const google::protobuf::MethodDescriptor* method) override;
  void OnRetryBudgetExhausted(const google::protobuf::MethodDescriptor* method) override;

 private:
  struct PerMethod {
    std::unique_ptr<MethodSeries> series;
    prometheus::Counter* retries;
    prometheus::Counter* exhausted;
  };
  PerMethod& For(const google::protobuf::MethodDescriptor* method);
  PerMethod& Lookup(const google::protobuf::MethodDescriptor* method);
  std::vector<prometheus::MetricFamily> Collect();

  const uint64_t id_;
  std::weak_ptr<ClientRuntime> runtime_;
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Histogram>& duration_;
  prometheus::Family<prometheus::Counter>& retries_;
  prometheus::Family<prometheus::Counter>& exhausted_;
  std::mutex mu_;
  impl::Snapshot<std::unordered_map<const void*, PerMethod*>> index_;
  std::vector<std::unique_ptr<PerMethod>> storage_;
  std::shared_ptr<void> collector_;
};

}  // namespace krpc
