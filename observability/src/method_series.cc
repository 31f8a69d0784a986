#include "krpc/method_series.h"

#include <limits>
#include <mutex>

#include "krpc/sharded_counter.h"

namespace krpc {
namespace {

constexpr auto kBoundsNs = [] {
  std::array<uint64_t, Metrics::kLatencyBoundsSeconds.size()> ns{};
  for (size_t i = 0; i < ns.size(); ++i) ns[i] = static_cast<uint64_t>(Metrics::kLatencyBoundsSeconds[i] * 1e9 + 0.5);
  return ns;
}();

}  // namespace

void MethodSeries::Record(StatusCode code, std::chrono::nanoseconds elapsed) {
  const auto c = static_cast<size_t>(code) < kCodes ? static_cast<size_t>(code) : static_cast<size_t>(StatusCode::kUnknown);
  const uint64_t ns = elapsed.count() > 0 ? static_cast<uint64_t>(elapsed.count()) : 0;
  size_t b = 0;
  while (b < kBoundsNs.size() && ns > kBoundsNs[b]) ++b;  // le: a value equal to a bound is in it
  const size_t shard = ShardOf<kShards>(ThreadShard());
  Shard& s = shards_[shard];
  ShardAdd<kShards>(s.by_code[c], shard, 1);
  ShardAdd<kShards>(s.buckets[b], shard, 1);
  ShardAdd<kShards>(s.sum_ns, shard, ns);
}

MethodSeries::Totals MethodSeries::Read() const {
  Totals t;
  for (const auto& s : shards_) {
    for (size_t i = 0; i < kCodes; ++i) t.by_code[i] += s.by_code[i].load(std::memory_order_relaxed);
    for (size_t i = 0; i < kBuckets; ++i) t.buckets[i] += s.buckets[i].load(std::memory_order_relaxed);
    t.sum_ns += s.sum_ns.load(std::memory_order_relaxed);
  }
  return t;
}

struct MethodSeriesFamily::State {
  Names names;
  std::mutex mu;
  std::vector<std::unique_ptr<MethodSeries>> series;

  std::vector<prometheus::MetricFamily> Collect() {
    FamilyBuilder requests(names.requests, names.requests_help, prometheus::MetricType::Counter);
    prometheus::MetricFamily duration{names.duration, names.duration_help, prometheus::MetricType::Histogram, {}};
    std::lock_guard lock(mu);
    for (const auto& s : series) {
      const auto t = s->Read();
      for (size_t c = 0; c < MethodSeries::kCodes; ++c) {
        if (t.by_code[c] == 0) continue;  // a code's series appears with its first call
        auto labels = s->labels();
        labels["code"] = std::string(StatusCodeName(static_cast<StatusCode>(c)));
        requests.Add(std::move(labels), static_cast<double>(t.by_code[c]));
      }
      prometheus::ClientMetric h;
      for (const auto& [k, v] : s->labels()) h.label.push_back({k, v});
      uint64_t cumulative = 0;
      for (size_t b = 0; b < MethodSeries::kBuckets; ++b) {
        cumulative += t.buckets[b];
        const double bound = b < Metrics::kLatencyBoundsSeconds.size() ? Metrics::kLatencyBoundsSeconds[b]
                                                                        : std::numeric_limits<double>::infinity();
        h.histogram.bucket.push_back({cumulative, bound});
      }
      h.histogram.sample_count = cumulative;  // equal to the +Inf bucket by construction
      h.histogram.sample_sum = static_cast<double>(t.sum_ns) / 1e9;
      duration.metric.push_back(std::move(h));
    }
    std::vector<prometheus::MetricFamily> out;
    out.push_back(std::move(requests).Build());
    out.push_back(std::move(duration));
    return out;
  }
};

MethodSeriesFamily::MethodSeriesFamily(Metrics& metrics, Names names) : state_(std::make_shared<State>()) {
  state_->names = std::move(names);
  collector_ = metrics.AddCollector([state = state_] { return state->Collect(); });
}

MethodSeries& MethodSeriesFamily::Add(std::map<std::string, std::string> labels) {
  std::lock_guard lock(state_->mu);
  state_->series.push_back(std::make_unique<MethodSeries>(std::move(labels)));
  return *state_->series.back();
}

}  // namespace krpc
