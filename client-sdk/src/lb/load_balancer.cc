#include "load_balancer.h"

#include <random>

#include "../endpoint_load.h"

namespace krpc::impl {

bool Selectable::operator()(EndpointLoad& s) const {
  for (int i = 0; i < n_exclude; ++i) {
    if (exclude[i] == &s) return false;
  }
  if (ignore_health) return true;
  if (!s.healthy()) return false;
  if (s.stalled(now, stall_after)) {
    s.SuspectStall();
    return false;
  }
  if (slow_start) {
    const double share = s.SlowStartShare(now);
    if (share < 1.0 && static_cast<double>(ThreadRandom() % 10000) >= share * 10000) return false;
  }
  return true;
}

uint64_t ThreadRandom() {
  static thread_local std::mt19937_64 rng(std::random_device{}());
  return rng();
}

int FirstSelectable(const EndpointList& list, size_t start, const Selectable& ok) {
  const size_t n = list.size();
  for (size_t i = 0; i < n; ++i) {
    const size_t at = (start + i) % n;
    if (ok(*list[at])) return static_cast<int>(at);
  }
  return -1;
}

LoadBalancerRegistry LoadBalancerRegistry::WithBuiltins() {
  LoadBalancerRegistry r;
  r.Register(MakeRoundRobin());
  r.Register(MakeWeightedRoundRobin());
  r.Register(MakeRandom());
  r.Register(MakePowerOfTwoChoices());
  r.Register(MakeConsistentHash());
  return r;
}

void LoadBalancerRegistry::Register(std::unique_ptr<LoadBalancerPolicy> policy) {
  const std::string name(policy->name());
  policies_[name] = std::move(policy);
}

const LoadBalancerPolicy* LoadBalancerRegistry::Find(std::string_view name) const {
  auto it = policies_.find(name);
  return it == policies_.end() ? nullptr : it->second.get();
}

std::vector<std::string> LoadBalancerRegistry::Names() const {
  std::vector<std::string> out;
  for (const auto& [n, p] : policies_) out.push_back(n);
  return out;
}

}  // namespace krpc::impl
