// What recording one call's metrics costs (issue 17, goal 5): prometheus-cpp's Counter and
// Histogram (a compare-and-swap loop on an atomic double each) against MethodSeries (per-thread
// shards), on one thread and on two threads recording the same method at once (the node's two
// I/O threads). Google Benchmark (Debian's libbenchmark-dev). Run: build/observability/krpc-metrics-bench
#include <benchmark/benchmark.h>
#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <chrono>
#include <vector>

#include "krpc/method_series.h"

namespace krpc {
namespace {

const std::map<std::string, std::string> kLabels{{"service", "krpc.examples.EchoService"}, {"method", "Echo"}};

struct PrometheusSeries {
  prometheus::Registry registry;
  prometheus::Counter& ok = prometheus::BuildCounter().Name("r_total").Register(registry).Add(kLabels);
  prometheus::Histogram& duration = prometheus::BuildHistogram().Name("d_seconds").Register(registry).Add(
      kLabels, prometheus::Histogram::BucketBoundaries(Metrics::kLatencyBoundsSeconds.begin(),
                                                       Metrics::kLatencyBoundsSeconds.end()));
};

PrometheusSeries* prometheus_series = nullptr;
MethodSeries* sharded_series = nullptr;

void PrometheusRecord(benchmark::State& state) {
  if (state.thread_index() == 0) prometheus_series = new PrometheusSeries;
  std::chrono::nanoseconds elapsed(60000);
  for (auto _ : state) {
    prometheus_series->ok.Increment();
    prometheus_series->duration.Observe(std::chrono::duration<double>(elapsed).count());
    elapsed += std::chrono::nanoseconds(1);
  }
  if (state.thread_index() == 0) {
    delete prometheus_series;
  }
}

void ShardedRecord(benchmark::State& state) {
  if (state.thread_index() == 0) sharded_series = new MethodSeries(kLabels);
  std::chrono::nanoseconds elapsed(60000);
  for (auto _ : state) {
    sharded_series->Record(StatusCode::kOk, elapsed);
    elapsed += std::chrono::nanoseconds(1);
  }
  if (state.thread_index() == 0) {
    delete sharded_series;
  }
}

BENCHMARK(PrometheusRecord)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(ShardedRecord)->Threads(1)->Threads(2)->UseRealTime();

}  // namespace
}  // namespace krpc

BENCHMARK_MAIN();
