// p2c: power of two choices. Two random qualifying endpoints; the one with the lower cost
// wins, cost = peak-EWMA latency x (in-flight + 1) / weight (brpc's and Finagle's shape).
// Latencies within a noise band (less than kTieRatio apart, or less than kTieAbsoluteUs) count as
// equal, and then the endpoint with fewer calls in flight wins (a tie: random): at low load
// latencies differ only by scheduling noise, and following noise piles traffic onto one endpoint.
#include <cmath>
#include <random>

#include "../endpoint_load.h"
#include "load_balancer.h"

namespace krpc::impl {
namespace {

constexpr double kTieRatio = 3.0;
constexpr double kTieAbsoluteUs = 5000.0;

// An endpoint without samples (or decayed to nothing) counts as fast, so it is tried again.
double Latency(const EndpointLoad& s, std::chrono::steady_clock::time_point now) {
  return std::max(100.0, s.ewma().value_us(now));
}

double Cost(const EndpointLoad& s, double latency) {
  return latency * static_cast<double>(s.inflight() + 1) / std::max(1, s.weight());
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
    const auto now = std::chrono::steady_clock::now();
    const EndpointLoad& sa = *list_[a];
    const EndpointLoad& sb = *list_[b];
    const double la = Latency(sa, now), lb = Latency(sb, now);
    const bool similar = std::max(la, lb) < kTieRatio * std::min(la, lb) || std::abs(la - lb) < kTieAbsoluteUs;
    if (similar && sa.weight() == sb.weight()) {
      if (sa.inflight() != sb.inflight()) return sa.inflight() < sb.inflight() ? a : b;
      return ThreadRandom() & 1 ? a : b;
    }
    return Cost(sa, la) <= Cost(sb, lb) ? a : b;
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
