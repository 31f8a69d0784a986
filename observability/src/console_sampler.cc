#include "console_sampler.h"

#include <fmt/format.h>

#include <cmath>
#include <limits>

#include "krpc/json.h"

namespace krpc {
namespace {

std::string Label(const prometheus::ClientMetric& m, const std::string& name) {
  for (const auto& l : m.label) {
    if (l.name == name) return l.value;
  }
  return {};
}

std::string MethodKey(const std::string& side, const prometheus::ClientMetric& m) {
  return side + " " + Label(m, "service") + "/" + Label(m, "method");
}

// Gauges summed over their series, and counters whose rate the console charts.
struct Total {
  const char* family;
  const char* series;
  bool rate;
};
constexpr Total kTotals[] = {
    {"krpc_server_connections", "server_connections", false},
    {"krpc_server_inflight_requests", "server_inflight", false},
    {"krpc_server_received_bytes_total", "server_received_bytes_per_s", true},
    {"krpc_server_sent_bytes_total", "server_sent_bytes_per_s", true},
    {"krpc_server_adaptive_limit", "server_adaptive_limit", false},
    {"krpc_server_overload_refused_total", "server_refused_per_s", true},
    {"krpc_server_early_refused_total", "server_early_refused_per_s", true},
    {"krpc_server_streams_open", "server_streams_open", false},
    {"krpc_server_stream_messages_total", "server_stream_messages_per_s", true},
    {"krpc_server_stream_writes_waiting", "server_stream_writes_waiting", false},
    {"krpc_client_pool_connections", "client_connections", false},
    {"krpc_client_inflight_requests", "client_inflight", false},
    {"krpc_client_retries_total", "client_retries_per_s", true},
    {"krpc_client_hedges_total", "client_hedges_per_s", true},
};

// Four significant digits are plenty for a chart; times keep milliseconds.
std::string Number(const std::optional<double>& v, bool time) {
  if (!v || !std::isfinite(*v)) return "null";
  return time ? fmt::format("{:.3f}", *v) : fmt::format("{:.4g}", *v);
}

std::string Series(const std::deque<std::optional<double>>& points, bool time = false) {
  std::string out = "[";
  for (size_t i = 0; i < points.size(); ++i) {
    if (i) out += ',';
    out += Number(points[i], time);
  }
  return out + "]";
}

}  // namespace

std::optional<double> ConsoleSampler::Quantile(double q, const std::vector<double>& bounds,
                                               const std::vector<double>& before, const std::vector<double>& after) {
  if (bounds.empty() || after.size() != bounds.size()) return std::nullopt;
  auto delta = [&](size_t i) { return after[i] - (i < before.size() ? before[i] : 0.0); };
  const double total = delta(bounds.size() - 1);
  if (total <= 0) return std::nullopt;
  const double rank = q * total;
  double below = 0;  // observations in the buckets before i
  for (size_t i = 0; i < bounds.size(); ++i) {
    const double upto = delta(i);
    if (upto >= rank) {
      const double lower = i == 0 ? 0.0 : bounds[i - 1];
      if (std::isinf(bounds[i])) return lower;  // beyond the last finite bound: report it
      const double in_bucket = upto - below;
      return in_bucket <= 0 ? bounds[i] : lower + (bounds[i] - lower) * (rank - below) / in_bucket;
    }
    below = upto;
  }
  return std::nullopt;
}

ConsoleSampler::Cumulative ConsoleSampler::Gather(const std::vector<prometheus::MetricFamily>& families) {
  Cumulative c;
  for (const auto& f : families) {
    const bool server = f.name.rfind("krpc_server_", 0) == 0;
    const bool client = f.name.rfind("krpc_client_", 0) == 0;
    if (!server && !client) continue;
    const std::string side = server ? "server" : "client";
    if (f.name == "krpc_server_requests_total" || f.name == "krpc_client_requests_total") {
      for (const auto& m : f.metric) {
        const auto key = MethodKey(side, m);
        c.calls[key] += m.counter.value;
        if (Label(m, "code") != "OK") c.errors[key] += m.counter.value;
      }
    } else if (f.name == "krpc_server_request_duration_seconds" || f.name == "krpc_client_request_duration_seconds") {
      for (const auto& m : f.metric) {
        const auto key = MethodKey(side, m);  // summed over the protocol label
        auto& counts = c.buckets[key];
        auto& bounds = c.bounds[key];
        if (counts.empty()) {
          counts.assign(m.histogram.bucket.size(), 0.0);
          for (const auto& b : m.histogram.bucket) bounds.push_back(b.upper_bound);
        }
        for (size_t i = 0; i < m.histogram.bucket.size() && i < counts.size(); ++i) {
          counts[i] += static_cast<double>(m.histogram.bucket[i].cumulative_count);
        }
      }
    } else {
      for (const auto& t : kTotals) {
        if (f.name != t.family) continue;
        double sum = 0;
        for (const auto& m : f.metric) sum += t.rate ? m.counter.value : m.gauge.value;
        (t.rate ? c.counters : c.gauges)[t.series] = sum;
      }
    }
  }
  return c;
}

void ConsoleSampler::Append(Points& points, std::optional<double> v) {
  while (points.size() + 1 < times_.size()) points.push_back(std::nullopt);  // a series that appeared late
  points.push_back(v);
}

void ConsoleSampler::Sample(const std::vector<prometheus::MetricFamily>& families, double now_s) {
  Cumulative now = Gather(families);
  if (!previous_ || now_s <= previous_s_) {
    previous_ = std::move(now);
    previous_s_ = now_s;
    return;
  }
  const Cumulative& before = *previous_;
  const double dt = now_s - previous_s_;
  times_.push_back(now_s);
  auto prior = [](const std::map<std::string, double>& m, const std::string& k) {
    auto it = m.find(k);
    return it == m.end() ? 0.0 : it->second;
  };
  for (const auto& [key, calls] : now.calls) {
    auto& mp = methods_[key];
    const double d = std::max(0.0, calls - prior(before.calls, key));
    const double e = std::max(0.0, prior(now.errors, key) - prior(before.errors, key));
    Append(mp.rate, d / dt);
    Append(mp.error_rate, d > 0 ? std::optional<double>(e / d) : std::optional<double>(0.0));
    std::optional<double> p50, p99;
    if (auto b = now.buckets.find(key); b != now.buckets.end()) {
      static const std::vector<double> kNone;
      auto pb = before.buckets.find(key);
      const auto& was = pb == before.buckets.end() ? kNone : pb->second;
      const auto& bounds = now.bounds[key];
      if (auto q = Quantile(0.5, bounds, was, b->second)) p50 = *q * 1000;
      if (auto q = Quantile(0.99, bounds, was, b->second)) p99 = *q * 1000;
    }
    Append(mp.p50_ms, p50);
    Append(mp.p99_ms, p99);
  }
  for (const auto& [series, v] : now.gauges) Append(totals_[series], v);
  for (const auto& [series, v] : now.counters) Append(totals_[series], std::max(0.0, v - prior(before.counters, series)) / dt);
  // Series without a value this time (e.g. a gauge whose last series left) get a gap.
  auto pad = [&](Points& p) {
    while (p.size() < times_.size()) p.push_back(std::nullopt);
  };
  for (auto& [k, mp] : methods_) {
    pad(mp.rate), pad(mp.error_rate), pad(mp.p50_ms), pad(mp.p99_ms);
  }
  for (auto& [k, p] : totals_) pad(p);
  while (times_.size() > history_) {
    times_.pop_front();
    for (auto& [k, mp] : methods_) {
      mp.rate.pop_front(), mp.error_rate.pop_front(), mp.p50_ms.pop_front(), mp.p99_ms.pop_front();
    }
    for (auto& [k, p] : totals_) p.pop_front();
  }
  previous_ = std::move(now);
  previous_s_ = now_s;
}

std::string ConsoleSampler::Json(int interval_ms) const {
  std::deque<std::optional<double>> t(times_.begin(), times_.end());
  json::Array methods;
  for (const auto& [key, mp] : methods_) {
    const auto space = key.find(' ');
    methods.AddRaw(json::Object()
                       .Add("side", key.substr(0, space))
                       .Add("name", key.substr(space + 1))
                       .AddRaw("rate", Series(mp.rate))
                       .AddRaw("error_rate", Series(mp.error_rate))
                       .AddRaw("p50_ms", Series(mp.p50_ms))
                       .AddRaw("p99_ms", Series(mp.p99_ms))
                       .str());
  }
  json::Object totals;
  for (const auto& [series, p] : totals_) totals.AddRaw(series, Series(p));
  return json::Object()
             .Add("interval_ms", interval_ms)
             .AddRaw("t", Series(t, true))
             .AddRaw("methods", methods.str())
             .AddRaw("totals", totals.str())
             .str();
}

}  // namespace krpc
