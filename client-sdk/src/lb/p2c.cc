// p2c: power of two choices. Two random qualifying endpoints; the one with the lower cost
// wins, cost = peak-EWMA latency x (in-flight + 1) / weight (brpc's and Finagle's shape).
#include <random>

#include "../subchannel.h"
#include "load_balancer.h"

namespace krpc::impl {
namespace {

uint64_t ThreadRandom() {
  static thread_local std::mt19937_64 rng(std::random_device{}());
  return rng();
}

double Cost(const Subchannel& s) {
  // An endpoint without samples yet costs like a 1 ms one, so it is tried but not flooded.
  const double latency = s.ewma().value_us() > 0 ? s.ewma().value_us() : 1000.0;
  const double weight = std::max(1, s.weight());
  return latency * static_cast<double>(s.inflight() + 1) / weight;
}

class P2cPicker final : public Picker {
 public:
  explicit P2cPicker(EndpointList list) : list_(std::move(list)) {}
  int Pick(const PickContext&, const Selectable& ok) const override {
    const size_t n = list_.size();
    if (n == 0) return -1;
    const int a = FirstSelectable(list_, ThreadRandom() % n, ok);
    if (a < 0 || n == 1) return a;
    // A second, different qualifying endpoint.
    const size_t offset = 1 + ThreadRandom() % (n - 1);
    int b = FirstSelectable(list_, (static_cast<size_t>(a) + offset) % n, ok);
    if (b < 0 || b == a) return a;
    return Cost(*list_[a]) <= Cost(*list_[b]) ? a : b;
  }

 private:
  EndpointList list_;
};

class PowerOfTwoChoices final : public LoadBalancerPolicy {
 public:
  std::string_view name() const override { return "p2c"; }
  std::unique_ptr<Picker> Build(const EndpointList& list) const override { return std::make_unique<P2cPicker>(list); }
};

}  // namespace

std::unique_ptr<LoadBalancerPolicy> MakePowerOfTwoChoices() { return std::make_unique<PowerOfTwoChoices>(); }

}  // namespace krpc::impl
