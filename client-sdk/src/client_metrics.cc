#include "krpc/client_metrics.h"

#include <algorithm>

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
      pushbacks_(BuildCounter().Name("krpc_client_pushbacks_total").Help("Overload refusals whose retry pushback delayed or forbade a retry, by service and method").Register(m.registry())),
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
  per->pushbacks = &pushbacks_.Add(labels);
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

void ClientMetrics::OnPushback(const google::protobuf::MethodDescriptor* method) { For(method).pushbacks->Increment(); }

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
  FamilyBuilder tls_failures("krpc_client_tls_handshake_failures_total", "Failed TLS handshakes per endpoint, by reason (unknown_ca, name_mismatch, expired, client_cert_required, ...)", MetricType::Counter);
  // Several channels may reach the same endpoint of the same service (two channels on one
  // target): their state is merged into one series per (service, endpoint), each declared
  // statistic as its declaration says (KRPC_ENDPOINT_STATS), and an endpoint is counted once
  // per service.
  struct Merged {
    int breaker = 0;
    std::vector<double> stats;  // in declaration order
    std::map<std::string, uint64_t> tls_failures;
  };
  std::map<std::pair<std::string, std::string>, Merged> merged;
  for (const auto& ch : runtime->Channels()) {
    for (const auto& e : ch->Endpoints()) {
      auto& m = merged[{e.service.empty() ? ch->target() : e.service, e.address}];
      const bool first = m.stats.empty();
      m.breaker = std::max(m.breaker, static_cast<int>(e.breaker));
      for (const auto& [reason, n] : e.tls_failures) m.tls_failures[reason] += n;
      size_t i = 0;
      e.ForEach([&](const EndpointStatView& v, auto value) {
        const double x = static_cast<double>(value);
        if (first) {
          m.stats.push_back(x);
        } else if (v.merge == EndpointStatView::Merge::Sum) {
          m.stats[i] += x;
        } else {
          m.stats[i] = v.merge == EndpointStatView::Merge::Max ? std::max(m.stats[i], x) : std::min(m.stats[i], x);
        }
        ++i;
      });
    }
  }
  std::vector<std::pair<std::string_view, FamilyBuilder>> declared;  // in declaration order
  std::map<std::string, int> per_service;
  for (const auto& [key, m] : merged) {
    const auto& [service, address] = key;
    ++per_service[service];
    const std::map<std::string, std::string> l{{"service", service}, {"endpoint", address}};
    breaker.Add(l, m.breaker);
    for (const auto& [reason, n] : m.tls_failures) {
      auto labels = l;
      labels["reason"] = reason;
      tls_failures.Add(labels, static_cast<double>(n));
    }
    size_t i = 0;
    EndpointInfo{}.ForEach([&](const EndpointStatView& v, auto) {
      const double x = m.stats[i++];
      if (v.metric.empty()) return;
      auto it = std::find_if(declared.begin(), declared.end(), [&](const auto& f) { return f.first == v.metric; });
      if (it == declared.end()) {
        const auto type = v.kind == EndpointStatView::Kind::Counter ? MetricType::Counter : MetricType::Gauge;
        it = declared.insert(declared.end(), {v.metric, FamilyBuilder(std::string(v.metric), std::string(v.help), type)});
      }
      auto labels = l;
      if (const auto eq = v.label.find('='); eq != std::string_view::npos) {
        labels[std::string(v.label.substr(0, eq))] = std::string(v.label.substr(eq + 1));
      }
      it->second.Add(labels, x);
    });
  }
  for (const auto& [service, n] : per_service) endpoints.Add({{"service", service}}, n);
  FamilyBuilder updates("krpc_client_discovery_updates_total", "Provider-list changes received from ZooKeeper", MetricType::Counter);
  updates.Add({}, static_cast<double>(runtime->DiscoveryUpdates()));
  std::vector<prometheus::MetricFamily> out;
  for (auto* b : {&endpoints, &breaker, &tls_failures}) out.push_back(std::move(*b).Build());
  for (auto& [name, family] : declared) out.push_back(std::move(family).Build());
  out.push_back(std::move(updates).Build());
  return out;
}

}  // namespace krpc
