// Load balancing: a policy builds an immutable Picker from an endpoint snapshot whenever the
// snapshot changes (discovery, never per call); Pick() runs on every call from any thread and
// takes no lock. Policies see only each endpoint's EndpointLoad. Policies are registered by name in a LoadBalancerRegistry built explicitly
// (no static-init registration).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace krpc::impl {

class EndpointLoad;
// What a picker is built from: the load of each endpoint, in the order of the endpoint set.
using EndpointList = std::vector<std::shared_ptr<EndpointLoad>>;

struct PickContext {
  uint64_t key = 0;        // consistent-hash key (Controller::set_request_key)
  bool has_key = false;
};

// Which endpoints a pick may return: breaker not open (unless in panic), not already tried
// by this call, not waiting out a reconnect backoff, not stalled, and (slow start) one in its
// ramp only with the probability of its share.
struct Selectable {
  const EndpointLoad* const* exclude = nullptr;
  int n_exclude = 0;
  bool ignore_health = false;  // panic mode: every endpoint qualifies
  bool slow_start = true;      // thin out endpoints in their slow-start ramp
  std::chrono::steady_clock::time_point now{};
  std::chrono::steady_clock::duration stall_after = std::chrono::steady_clock::duration::max();
  bool operator()(EndpointLoad& s) const;
};

class Picker {
 public:
  virtual ~Picker() = default;
  // Index into the endpoint list the picker was built from, or -1 when none qualifies.
  virtual int Pick(const PickContext& ctx, const Selectable& ok) const = 0;
};

class LoadBalancerPolicy {
 public:
  virtual ~LoadBalancerPolicy() = default;
  virtual std::string_view name() const = 0;
  virtual std::unique_ptr<Picker> Build(const EndpointList& endpoints) const = 0;
};

class LoadBalancerRegistry {
 public:
  // round_robin, weighted_round_robin, random, p2c, consistent_hash.
  static LoadBalancerRegistry WithBuiltins();
  void Register(std::unique_ptr<LoadBalancerPolicy> policy);
  const LoadBalancerPolicy* Find(std::string_view name) const;
  std::vector<std::string> Names() const;

 private:
  std::map<std::string, std::shared_ptr<LoadBalancerPolicy>, std::less<>> policies_;
};

// Factories of the built-in policies (one file each).
std::unique_ptr<LoadBalancerPolicy> MakeRoundRobin();
std::unique_ptr<LoadBalancerPolicy> MakeWeightedRoundRobin();
std::unique_ptr<LoadBalancerPolicy> MakeRandom();
std::unique_ptr<LoadBalancerPolicy> MakePowerOfTwoChoices();
std::unique_ptr<LoadBalancerPolicy> MakeConsistentHash(int virtual_nodes = 160);

// A per-thread random number generator's next value (no shared state, no lock).
uint64_t ThreadRandom();

// Walks `n` indices from `start` (wrapping) and returns the first that `ok` accepts, or -1.
int FirstSelectable(const EndpointList& list, size_t start, const Selectable& ok);

}  // namespace krpc::impl
