// The cost of a pick, and of building a picker (what a discovery update pays), against the
// number of endpoints: 10, 100, 1,000 (issue 17, "scale"). Google Benchmark (Debian's
// libbenchmark-dev); real endpoint loads (what pickers read), no connections.
// Run: build/client-sdk/krpc-pick-bench
#include <benchmark/benchmark.h>

#include <string>

#include "endpoint_load.h"
#include "lb/load_balancer.h"

namespace krpc::impl {
namespace {

EndpointList Endpoints(int n) {
  EndpointList list;
  for (int i = 0; i < n; ++i) {
    list.push_back(std::make_shared<EndpointLoad>("10." + std::to_string(i / 65536) + "." + std::to_string(i / 256 % 256) +
                                                      "." + std::to_string(i % 256) + ":7000",
                                                  std::chrono::milliseconds(2000), 0, 10));
  }
  return list;
}

void Pick(benchmark::State& state, const char* policy) {
  const auto endpoints = Endpoints(static_cast<int>(state.range(0)));
  const auto registry = LoadBalancerRegistry::WithBuiltins();
  const auto picker = registry.Find(policy)->Build(endpoints);
  Selectable ok;
  ok.now = std::chrono::steady_clock::now();
  PickContext ctx;
  ctx.has_key = true;
  uint64_t key = 0;
  for (auto _ : state) {
    ctx.key = key++ * 0x9E3779B97F4A7C15ULL;
    benchmark::DoNotOptimize(picker->Pick(ctx, ok));
  }
}

void Build(benchmark::State& state, const char* policy) {
  const auto endpoints = Endpoints(static_cast<int>(state.range(0)));
  const auto registry = LoadBalancerRegistry::WithBuiltins();
  for (auto _ : state) benchmark::DoNotOptimize(registry.Find(policy)->Build(endpoints));
}

#define KRPC_POLICY_BENCH(name)                                                        \
  BENCHMARK_CAPTURE(Pick, name, #name)->Arg(10)->Arg(100)->Arg(1000);                  \
  BENCHMARK_CAPTURE(Build, name, #name)->Arg(10)->Arg(100)->Arg(1000)->Unit(benchmark::kMicrosecond)

KRPC_POLICY_BENCH(p2c);
KRPC_POLICY_BENCH(round_robin);
KRPC_POLICY_BENCH(weighted_round_robin);
KRPC_POLICY_BENCH(random);
KRPC_POLICY_BENCH(consistent_hash);

}  // namespace
}  // namespace krpc::impl

BENCHMARK_MAIN();
