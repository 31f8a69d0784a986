// consistent_hash: a ring of virtual nodes (160 per endpoint, scaled by weight) keyed by a
// per-call key; the first qualifying endpoint clockwise from the key's hash wins. Adding or
// removing one endpoint moves about 1/N of the keys. A call without a key (no
// Controller::set_request_key) has nothing to be consistent about: it is spread by p2c
// instead of landing on the one endpoint that owns key 0.
#include <algorithm>
#include <string>

#include "../endpoint_load.h"
#include "load_balancer.h"

namespace krpc::impl {
namespace {

uint64_t Mix(uint64_t x) {  // splitmix64 finalizer
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

uint64_t Hash(std::string_view s) {  // FNV-1a, then mixed
  uint64_t h = 1469598103934665603ull;
  for (char c : s) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  return Mix(h);
}

class RingPicker final : public Picker {
 public:
  RingPicker(EndpointList list, std::vector<std::pair<uint64_t, int>> ring, std::unique_ptr<Picker> keyless)
      : list_(std::move(list)), ring_(std::move(ring)), keyless_(std::move(keyless)) {}
  int Pick(const PickContext& ctx, const Selectable& ok) const override {
    if (!ctx.has_key) return keyless_->Pick(ctx, ok);
    if (ring_.empty()) return -1;
    const uint64_t h = Mix(ctx.key);
    auto it = std::lower_bound(ring_.begin(), ring_.end(), std::make_pair(h, -1));
    for (size_t i = 0; i < ring_.size(); ++i, ++it) {
      if (it == ring_.end()) it = ring_.begin();
      if (ok(*list_[it->second])) return it->second;
    }
    return -1;
  }

 private:
  EndpointList list_;
  std::vector<std::pair<uint64_t, int>> ring_;
  std::unique_ptr<Picker> keyless_;
};

class ConsistentHash final : public LoadBalancerPolicy {
 public:
  explicit ConsistentHash(int vnodes) : vnodes_(vnodes), keyless_(MakePowerOfTwoChoices()) {}
  std::string_view name() const override { return "consistent_hash"; }
  std::unique_ptr<Picker> Build(const EndpointList& list) const override {
    std::vector<std::pair<uint64_t, int>> ring;
    for (size_t i = 0; i < list.size(); ++i) {
      // Ring positions depend on the address only, so other endpoints' keys stay put.
      const int n = std::max(1, vnodes_ * std::max(1, list[i]->weight()) / 100);
      for (int v = 0; v < n; ++v) ring.emplace_back(Hash(list[i]->address() + "#" + std::to_string(v)), static_cast<int>(i));
    }
    std::sort(ring.begin(), ring.end());
    return std::make_unique<RingPicker>(list, std::move(ring), keyless_->Build(list));
  }

 private:
  int vnodes_;
  std::unique_ptr<LoadBalancerPolicy> keyless_;
};

}  // namespace

std::unique_ptr<LoadBalancerPolicy> MakeConsistentHash(int virtual_nodes) {
  return std::make_unique<ConsistentHash>(virtual_nodes);
}

}  // namespace krpc::impl
