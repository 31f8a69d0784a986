// ClientMetrics: Prometheus metrics for the channels of a ClientRuntime (a ClientObserver).
// Per-call series are added to per-thread shards through cached pointers (merged at scrape
// time); per-endpoint state (breakers,
// pools) is pulled at scrape time, so an endpoint that left takes its series with it. See
// docs/metrics.md.
#pragma once

#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "krpc/client_observer.h"
#include "krpc/method_series.h"
#include "krpc/metrics.h"

namespace krpc {

class ClientRuntime;

class ClientMetrics final : public ClientObserver {
 public:
  // Registers push series in `metrics` and a collector reading `runtime`'s channels.
  ClientMetrics(Metrics& metrics, std::shared_ptr<ClientRuntime> runtime);
  ~ClientMetrics() override;

  void OnCallFinished(const google::protobuf::MethodDescriptor* method, StatusCode code,
                      std::chrono::nanoseconds latency, int attempts) override;
  void OnRetry(const google::protobuf::MethodDescriptor* method) override;
  void OnTransparentRetry(const google::protobuf::MethodDescriptor* method) override;
  void OnPushback(const google::protobuf::MethodDescriptor* method) override;
  void OnRetryBudgetExhausted(const google::protobuf::MethodDescriptor* method) override;
  void OnPerTryTimeout(const google::protobuf::MethodDescriptor* method) override;
  void OnHedge(const google::protobuf::MethodDescriptor* method) override;
  void OnHedgeWon(const google::protobuf::MethodDescriptor* method) override;
  void OnHedgeBudgetExhausted(const google::protobuf::MethodDescriptor* method) override;

 private:
  struct PerMethod {
    MethodSeries* series;  // owned by methods_
    prometheus::Counter* retries;
    prometheus::Counter* transparent_retries;
    prometheus::Counter* pushbacks;
    prometheus::Counter* exhausted;
    prometheus::Counter* per_try_timeouts;
    prometheus::Counter* hedges;
    prometheus::Counter* hedges_won;
    prometheus::Counter* hedge_exhausted;
  };
  PerMethod& For(const google::protobuf::MethodDescriptor* method);
  PerMethod& Lookup(const google::protobuf::MethodDescriptor* method);
  std::vector<prometheus::MetricFamily> Collect();

  const uint64_t id_;
  std::weak_ptr<ClientRuntime> runtime_;
  MethodSeriesFamily methods_;
  prometheus::Family<prometheus::Counter>& retries_;
  prometheus::Family<prometheus::Counter>& transparent_retries_;
  prometheus::Family<prometheus::Counter>& pushbacks_;
  prometheus::Family<prometheus::Counter>& exhausted_;
  prometheus::Family<prometheus::Counter>& per_try_timeouts_;
  prometheus::Family<prometheus::Counter>& hedges_;
  prometheus::Family<prometheus::Counter>& hedges_won_;
  prometheus::Family<prometheus::Counter>& hedge_exhausted_;
  std::mutex mu_;
  struct Index;                   // method -> PerMethod, read lock-free on the call path
  std::unique_ptr<Index> index_;
  std::vector<std::unique_ptr<PerMethod>> storage_;
  std::shared_ptr<void> collector_;
};

}  // namespace krpc
