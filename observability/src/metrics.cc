#include "krpc/metrics.h"

#include <prometheus/text_serializer.h>

#include <sstream>

namespace krpc {

Metrics::Metrics() : registry_(std::make_shared<prometheus::Registry>()) {}

std::shared_ptr<void> Metrics::AddCollector(CollectFn fn) {
  auto source = std::make_shared<Source>();
  source->fn = std::move(fn);
  {
    std::lock_guard lock(mu_);
    collectors_.push_back(source);
  }
  return std::shared_ptr<void>(nullptr, [source](void*) {
    std::lock_guard lock(source->mu);
    source->fn = nullptr;
  });
}

std::string Metrics::Serialize() {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, Collect());
  return out.str();
}

std::vector<prometheus::MetricFamily> Metrics::Collect() {
  auto families = registry_->Collect();
  std::vector<std::shared_ptr<Source>> sources;
  {
    std::lock_guard lock(mu_);
    sources = collectors_;
  }
  bool released = false;
  for (auto& s : sources) {
    std::lock_guard lock(s->mu);
    if (!s->fn) {
      released = true;
      continue;
    }
    for (auto& f : s->fn()) {
      if (!f.metric.empty()) families.push_back(std::move(f));
    }
  }
  if (released) {
    std::lock_guard lock(mu_);
    std::erase_if(collectors_, [](const auto& s) {
      std::lock_guard l(s->mu);
      return !s->fn;
    });
  }
  return families;
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
