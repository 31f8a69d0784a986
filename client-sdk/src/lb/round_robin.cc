// round_robin: the next endpoint in turn, skipping ones that do not qualify.
#include <atomic>

#include "load_balancer.h"

namespace krpc::impl {
namespace {

class RoundRobinPicker final : public Picker {
 public:
  explicit RoundRobinPicker(EndpointList list) : list_(std::move(list)) {}
  int Pick(const PickContext&, const Selectable& ok) const override {
    if (list_.empty()) return -1;
    return FirstSelectable(list_, next_.fetch_add(1, std::memory_order_relaxed), ok);
  }

 private:
  EndpointList list_;
  mutable std::atomic<size_t> next_{0};
};

class RoundRobin final : public LoadBalancerPolicy {
 public:
  std::string_view name() const override { return "round_robin"; }
  std::unique_ptr<Picker> Build(const EndpointList& list) const override {
    return std::make_unique<RoundRobinPicker>(list);
  }
};

}  // namespace

std::unique_ptr<LoadBalancerPolicy> MakeRoundRobin() { return std::make_unique<RoundRobin>(); }

}  // namespace krpc::impl
