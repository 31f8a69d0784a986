// Metrics: the process's one prometheus-cpp registry, plus pull-based collectables (gauges and
// counters read from live objects at scrape time, so the series of an endpoint that left
// disappear with it). Serialize() renders the text exposition format with TextSerializer.
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace krpc {

class Metrics {
 public:
  Metrics();
  prometheus::Registry& registry() { return *registry_; }
  // Adds a pull-based source; it is collected while the returned handle lives.
  using CollectFn = std::function<std::vector<prometheus::MetricFamily>()>;
  std::shared_ptr<void> AddCollector(CollectFn fn);
  std::string Serialize();
  // Every family: the registry's and the collectors' (what Serialize() renders).
  std::vector<prometheus::MetricFamily> Collect();

  // Request-duration buckets in seconds, 100 us to 10 s, so sub-millisecond calls resolve.
  static const prometheus::Histogram::BucketBoundaries& LatencyBuckets();

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  std::mutex mu_;
  std::vector<std::weak_ptr<CollectFn>> collectors_;
};

// Builds one family for a pull-based collector.
class FamilyBuilder {
 public:
  FamilyBuilder(std::string name, std::string help, prometheus::MetricType type);
  FamilyBuilder& Add(std::map<std::string, std::string> labels, double value);
  prometheus::MetricFamily Build() { return std::move(family_); }

 private:
  prometheus::MetricFamily family_;
};

}  // namespace krpc
