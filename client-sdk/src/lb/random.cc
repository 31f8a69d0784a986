// random: a uniformly random endpoint, skipping ones that do not qualify.
#include <random>

#include "load_balancer.h"

namespace krpc::impl {
namespace {

class RandomPicker final : public Picker {
 public:
  explicit RandomPicker(EndpointList list) : list_(std::move(list)) {}
  int Pick(const PickContext&, const Selectable& ok) const override {
    if (list_.empty()) return -1;
    return FirstSelectable(list_, ThreadRandom() % list_.size(), ok);
  }

 private:
  EndpointList list_;
};

class Random final : public LoadBalancerPolicy {
 public:
  std::string_view name() const override { return "random"; }
  std::unique_ptr<Picker> Build(const EndpointList& list) const override { return std::make_unique<RandomPicker>(list); }
};

}  // namespace

std::unique_ptr<LoadBalancerPolicy> MakeRandom() { return std::make_unique<Random>(); }

}  // namespace krpc::impl
