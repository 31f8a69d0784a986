// ConsoleSampler: turns successive collections of the process's metrics into the web console's
// time series. Each Sample() takes the difference to the previous collection: per (side,
// service/method) the call rate, the error rate and p50/p99 latency (interpolated inside the
// duration histogram's buckets, as Prometheus' histogram_quantile does), plus the connection,
// in-flight and byte-rate series. It keeps the last `history` samples in a ring; Json() renders
// them for /console/series. Not thread-safe: the console calls it under its own lock.
#pragma once

#include <prometheus/metric_family.h>

#include <cstddef>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace krpc {

class ConsoleSampler {
 public:
  explicit ConsoleSampler(size_t history) : history_(history) {}

  // `now_s`: the collection's time (unix seconds). The first call only records a baseline.
  void Sample(const std::vector<prometheus::MetricFamily>& families, double now_s);
  std::string Json(int interval_ms) const;
  size_t size() const { return times_.size(); }

  // The q-quantile of the observations between two cumulative bucket snapshots (upper bounds
  // `bounds`, the last +Inf), or nothing without observations. Exposed for tests.
  static std::optional<double> Quantile(double q, const std::vector<double>& bounds, const std::vector<double>& before,
                                        const std::vector<double>& after);

 private:
  using Points = std::deque<std::optional<double>>;
  struct Cumulative {  // one collection's totals
    std::map<std::string, double> calls, errors, counters;
    std::map<std::string, std::vector<double>> buckets;  // per method, cumulative counts
    std::map<std::string, std::vector<double>> bounds;
    std::map<std::string, double> gauges;
  };
  struct MethodPoints {
    Points rate, error_rate, p50_ms, p99_ms;
  };

  static Cumulative Gather(const std::vector<prometheus::MetricFamily>& families);
  void Append(Points& points, std::optional<double> v);

  size_t history_;
  std::optional<Cumulative> previous_;
  double previous_s_ = 0;
  std::deque<double> times_;
  std::map<std::string, MethodPoints> methods_;  // key: "side service/method"
  std::map<std::string, Points> totals_;         // connections, inflight, bytes/s
};

}  // namespace krpc
