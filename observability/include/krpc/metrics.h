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

#include <array>
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
  // Adds a pull-based source; it is collected while the returned handle lives. Releasing the
  // handle waits for a collection of this source under way, so `fn` may capture its owner's
  // `this` when the owner holds the handle.
  using CollectFn = std::function<std::vector<prometheus::MetricFamily>()>;
  std::shared_ptr<void> AddCollector(CollectFn fn);
  std::string Serialize();
  // Every family: the registry's and the collectors' (what Serialize() renders).
  std::vector<prometheus::MetricFamily> Collect();

  // Request-duration bucket bounds in seconds, 100 us to 10 s, so sub-millisecond calls resolve.
  static constexpr std::array<double, 16> kLatencyBoundsSeconds = {
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  std::mutex mu_;
  struct Source {
    std::mutex mu;  // held while fn runs and while the handle lets go of it
    CollectFn fn;   // empty once the handle is released
  };
  std::vector<std::shared_ptr<Source>> collectors_;
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
