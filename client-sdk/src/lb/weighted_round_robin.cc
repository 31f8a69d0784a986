// weighted_round_robin: a schedule built once per endpoint set with smooth weighted round
// robin (nginx's), so weights 5:1:1 give a a a b a c a ... rather than bursts; picks walk it
// with one atomic counter.
#include <atomic>
#include <numeric>

#include "../endpoint_load.h"
#include "load_balancer.h"

namespace krpc::impl {
namespace {

class WeightedPicker final : public Picker {
 public:
  WeightedPicker(EndpointList list, std::vector<int> schedule) : list_(std::move(list)), schedule_(std::move(schedule)) {}
  int Pick(const PickContext&, const Selectable& ok) const override {
    if (schedule_.empty()) return -1;
    const size_t at = next_.fetch_add(1, std::memory_order_relaxed);
    const int first = schedule_[at % schedule_.size()];
    if (ok(*list_[first])) return first;
    return FirstSelectable(list_, static_cast<size_t>(first) + 1, ok);
  }

 private:
  EndpointList list_;
  std::vector<int> schedule_;
  mutable std::atomic<size_t> next_{0};
};

class WeightedRoundRobin final : public LoadBalancerPolicy {
 public:
  std::string_view name() const override { return "weighted_round_robin"; }
  std::unique_ptr<Picker> Build(const EndpointList& list) const override {
    std::vector<int> weights;
    int g = 0;
    for (const auto& s : list) {
      weights.push_back(std::max(0, s->weight()));
      g = std::gcd(g, weights.back());
    }
    std::vector<int> schedule;
    if (g > 0) {
      int64_t total = 0;
      for (auto& w : weights) total += (w /= g);
      total = std::min<int64_t>(total, 10000);  // bounded schedule length
      std::vector<int64_t> current(weights.size(), 0);
      int64_t sum = 0;
      for (int w : weights) sum += w;
      for (int64_t i = 0; i < total; ++i) {
        size_t best = 0;
        for (size_t k = 0; k < weights.size(); ++k) {
          current[k] += weights[k];
          if (current[k] > current[best]) best = k;
        }
        current[best] -= sum;
        schedule.push_back(static_cast<int>(best));
      }
    }
    return std::make_unique<WeightedPicker>(list, std::move(schedule));
  }
};

}  // namespace

std::unique_ptr<LoadBalancerPolicy> MakeWeightedRoundRobin() { return std::make_unique<WeightedRoundRobin>(); }

}  // namespace krpc::impl
