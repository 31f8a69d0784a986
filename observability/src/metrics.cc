#include "krpc/metrics.h"

#include <prometheus/text_serializer.h>

#include <sstream>

namespace krpc {

Metrics::Metrics() : registry_(std::make_shared<prometheus::Registry>()) {}

std::shared_ptr<void> Metrics::AddCollector(CollectFn fn) {
  auto holder = std::make_shared<CollectFn>(std::move(fn));
  std::lock_guard lock(mu_);
  collectors_.push_back(holder);
  return holder;
}

std::string Metrics::Serialize() {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, Collect());
  return out.str();
}

std::vector<prometheus::MetricFamily> Metrics::Collect() {
  auto families = registry_->Collect();
  std::vector<std::shared_ptr<CollectFn>> live;
  {
    std::lock_guard lock(mu_);
    std::erase_if(collectors_, [](const auto& w) { return w.expired(); });
    for (auto& w : collectors_) {
      if (auto c = w.lock()) live.push_back(std::move(c));
    }
  }
  for (auto& c : live) {
    auto more = (*c)();
    for (auto& f : more) {
      if (!f.metric.empty()) families.push_back(std::move(f));
    }
  }
  return families;
}

const prometheus::Histogram::BucketBoundaries& Metrics::LatencyBuckets() {
  static const prometheus::Histogram::BucketBoundaries kBuckets = {
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  return kBuckets;
}

FamilyBuilder::FamilyBuilder(std::string name, std::string help, prometheus::MetricType type) {
  family_.name = std::move(name);
  family_.help = std::move(help);
  family_.type = type;
}

FamilyBuilder& FamilyBuilder::Add(std::map<std::string, std::string> labels, double value) {
  prometheus::ClientMetric m;
  for (auto& [k, v] : labels) m.label.push_back({k, v});
  if (family_.type == prometheus::MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
  family_.metric.push_back(std::move(m));
  return *this;
}

}  // namespace krpc
