#include "krpc/client_metrics.h"

#include "krpc/impl/snapshot.h"

#include <google/protobuf/descriptor.h>

#include "krpc/channel.h"
#include "krpc/client_runtime.h"

namespace krpc {
using prometheus::BuildCounter;
using prometheus::MetricType;

namespace {
std::atomic<uint64_t> next_client_metrics_id{1};
}

struct ClientMetrics::Index {
  impl::Snapshot<std::unordered_map<const void*, PerMethod*>> cell{
      std::make_shared<const std::unordered_map<const void*, PerMethod*>>()};
};

ClientMetrics::~ClientMetrics() = default;

ClientMetrics::ClientMetrics(Metrics& m, std::shared_ptr<ClientRuntime> runtime)
    : id_(next_client_metrics_id.fetch_add(1)),
      runtime_(runtime),
      methods_(m, {"krpc_client_requests_total", "Calls completed (all attempts), by service, method and status code",
                   "krpc_client_request_duration_seconds", "Call latency including retries"}),
      retries_(BuildCounter().Name("krpc_client_retries_total").Help("Retry attempts, by service and method").Register(m.registry())),
      transparent_retries_(BuildCounter().Name("krpc_client_transparent_retries_total").Help("Attempts that never ran (never sent, or refused unexecuted by a draining node) re-picked outside the retry policy").Register(m.registry())),
      exhausted_(BuildCounter().Name("krpc_client_retry_budget_exhausted_total").Help("Retries refused by the retry budget").Register(m.registry())),
      per_try_timeouts_(BuildCounter().Name("krpc_client_per_try_timeouts_total").Help("Attempts that ran out their per-try timeout (cancelled; retried when idempotent)").Register(m.registry())),
      hedges_(BuildCounter().Name("krpc_client_hedges_total").Help("Hedged attempts sent").Register(m.registry())),
      hedges_won_(BuildCounter().Name("krpc_client_hedges_won_total").Help("Calls answered by a hedged attempt").Register(m.registry())),
      hedge_exhausted_(BuildCounter().Name("krpc_client_hedge_budget_exhausted_total").Help("Hedges refused by the hedge budget").Register(m.registry())),
      index_(std::make_unique<Index>()) {
  collector_ = m.AddCollector([this] { return Collect(); });
}

ClientMetrics::PerMethod& ClientMetrics::For(const google::protobuf::MethodDescriptor* method) {
  // Per-thread cache of the last method: the common case costs no shared-memory traffic.
  // Keyed by a process-unique id, not the address, which a later instance could reuse.
  struct Last {
    uint64_t owner = 0;
    const void* method = nullptr;
    PerMethod* per = nullptr;
  };
  static thread_local Last last;
  if (last.owner == id_ && last.method == method) return *last.per;
  PerMethod& per = Lookup(method);
  last = {id_, method, &per};
  return per;
}

ClientMetrics::PerMethod& ClientMetrics::Lookup(const google::protobuf::MethodDescriptor* method) {
  auto index = index_->cell.load();
  if (auto it = index->find(method); it != index->end()) return *it->second;
  std::lock_guard lock(mu_);
  index = index_->cell.load();
  if (auto it = index->find(method); it != index->end()) return *it->second;
  std::map<std::string, std::string> labels{{"service", method ? method->service()->full_name() : "unknown"},
                                            {"method", method ? method->name() : "unknown"}};
  auto per = std::make_unique<PerMethod>();
  per->series = &methods_.Add(labels);
  per->retries = &retries_.Add(labels);
  per->transparent_retries = &transparent_retries_.Add(labels);
  per->exhausted = &exhausted_.Add(labels);
  per->per_try_timeouts = &per_try_timeouts_.Add(labels);
  per->hedges = &hedges_.Add(labels);
  per->hedges_won = &hedges_won_.Add(labels);
  per->hedge_exhausted = &hedge_exhausted_.Add(labels);
  auto next = std::make_shared<std::unordered_map<const void*, PerMethod*>>(*index);
  (*next)[method] = per.get();
  storage_.push_back(std::move(per));
  index_->cell.store(next);
  return *storage_.back();
}

void ClientMetrics::OnCallFinished(const google::protobuf::MethodDescriptor* method, StatusCode code,
                                   std::chrono::nanoseconds latency, int) {
  For(method).series->Record(code, latency);
}

void ClientMetrics::OnRetry(const google::protobuf::MethodDescriptor* method) { For(method).retries->Increment(); }

void ClientMetrics::OnTransparentRetry(const google::protobuf::MethodDescriptor* method) {
  For(method).transparent_retries->Increment();
}

void ClientMetrics::OnRetryBudgetExhausted(const google::protobuf::MethodDescriptor* method) {
  For(method).exhausted->Increment();
}

void ClientMetrics::OnPerTryTimeout(const google::protobuf::MethodDescriptor* method) {
  For(method).per_try_timeouts->Increment();
}
void ClientMetrics::OnHedge(const google::protobuf::MethodDescriptor* method) { For(method).hedges->Increment(); }
void ClientMetrics::OnHedgeWon(const google::protobuf::MethodDescriptor* method) { For(method).hedges_won->Increment(); }
void ClientMetrics::OnHedgeBudgetExhausted(const google::protobuf::MethodDescriptor* method) {
  For(method).hedge_exhausted->Increment();
}

std::vector<prometheus::MetricFamily> ClientMetrics::Collect() {
  auto runtime = runtime_.lock();
  if (!runtime) return {};
  FamilyBuilder endpoints("krpc_client_endpoints", "Endpoints known, by service (target for static channels)", MetricType::Gauge);
  FamilyBuilder breaker("krpc_client_breaker_state", "Circuit breaker per endpoint: 0 closed, 1 half-open, 2 open", MetricType::Gauge);
  FamilyBuilder transitions("krpc_client_breaker_transitions_total", "Breaker state changes per endpoint", MetricType::Counter);
  FamilyBuilder pool("krpc_client_pool_connections", "Pooled connections per endpoint, by state (active, idle)", MetricType::Gauge);
  FamilyBuilder connects("krpc_client_connects_total", "Connections established per endpoint", MetricType::Counter);
  FamilyBuilder failures("krpc_client_connect_failures_total", "Failed connection attempts per endpoint (each one schedules a reconnect)", MetricType::Counter);
  FamilyBuilder tls_failures("krpc_client_tls_handshake_failures_total", "Failed TLS handshakes per endpoint, by reason (unknown_ca, name_mismatch, expired, client_cert_required, ...)", MetricType::Counter);
  FamilyBuilder reuses("krpc_client_connection_reuses_total", "Calls sent on an already open connection, per endpoint", MetricType::Counter);
  FamilyBuilder inflight("krpc_client_inflight_requests", "Attempts in flight per endpoint", MetricType::Gauge);
  FamilyBuilder stalls("krpc_client_stalls_total", "Times an endpoint was found stalled (attempts out, no answer): no new calls, probed", MetricType::Counter);
  FamilyBuilder latency_ejections("krpc_client_latency_ejections_total", "Ejections of an endpoint as a latency outlier", MetricType::Counter);
  FamilyBuilder slow_start("krpc_client_slow_start_share", "Share of a full load an endpoint may take now (below 1 in its slow-start ramp)", MetricType::Gauge);
  // Several channels may reach the same endpoint of the same service (two channels on one
  // target): their state is merged into one series per (service, endpoint), and an endpoint
  // is counted once per service.
  struct Merged {
    int breaker = 0;
    double transitions = 0, connects = 0, failures = 0, reuses = 0, inflight = 0, stalls = 0, latency_ejections = 0;
    double slow_start = 1;
    int active = 0, idle = 0;
    std::map<std::string, uint64_t> tls_failures;
  };
  std::map<std::pair<std::string, std::string>, Merged> merged;
  for (const auto& ch : runtime->Channels()) {
    for (const auto& e : ch->Endpoints()) {
      auto& m = merged[{e.service.empty() ? ch->target() : e.service, e.address}];
      m.breaker = std::max(m.breaker, static_cast<int>(e.breaker));
      m.transitions += static_cast<double>(e.breaker_transitions);
      m.connects += static_cast<double>(e.connects);
      m.failures += static_cast<double>(e.connect_failures);
      for (const auto& [reason, n] : e.tls_failures) m.tls_failures[reason] += n;
      m.reuses += static_cast<double>(e.reuses);
      m.inflight += static_cast<double>(e.inflight);
      m.stalls += static_cast<double>(e.stalls);
      m.latency_ejections += static_cast<double>(e.latency_ejections);
      m.slow_start = std::min(m.slow_start, e.slow_start);
      m.active += e.connections_active;
      m.idle += e.connections_idle;
    }
  }
  std::map<std::string, int> per_service;
  for (const auto& [key, m] : merged) {
    const auto& [service, address] = key;
    ++per_service[service];
    const std::map<std::string, std::string> l{{"service", service}, {"endpoint", address}};
    breaker.Add(l, m.breaker);
    transitions.Add(l, m.transitions);
    auto active = l, idle = l;
    active["state"] = "active";
    idle["state"] = "idle";
    pool.Add(active, m.active).Add(idle, m.idle);
    connects.Add(l, m.connects);
    failures.Add(l, m.failures);
    for (const auto& [reason, n] : m.tls_failures) {
      auto labels = l;
      labels["reason"] = reason;
      tls_failures.Add(labels, static_cast<double>(n));
    }
    reuses.Add(l, m.reuses);
    inflight.Add(l, m.inflight);
    stalls.Add(l, m.stalls);
    latency_ejections.Add(l, m.latency_ejections);
    slow_start.Add(l, m.slow_start);
  }
  for (const auto& [service, n] : per_service) endpoints.Add({{"service", service}}, n);
  FamilyBuilder updates("krpc_client_discovery_updates_total", "Provider-list changes received from ZooKeeper", MetricType::Counter);
  updates.Add({}, static_cast<double>(runtime->DiscoveryUpdates()));
  std::vector<prometheus::MetricFamily> out;
  for (auto* b : {&endpoints, &breaker, &transitions, &pool, &connects, &failures, &tls_failures, &reuses, &inflight, &stalls, &latency_ejections,
                  &slow_start, &updates}) {
    out.push_back(std::move(*b).Build());
  }
  return out;
}

}  // namespace krpc
