// MethodSeries: the per-(service, method) request counters (by status code) and duration
// histogram that the server and client RPC metrics share. Record() is on every call: it adds to
// the calling thread's shard (ShardAdd: plain stores on cache lines no other thread writes; no
// compare-and-swap loop on a shared double as prometheus-cpp's Counter and Histogram do), and
// MethodSeriesFamily merges the shards into Prometheus families at scrape time.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "krpc/metrics.h"
#include "krpc/status.h"

namespace krpc {

class MethodSeries {
 public:
  static constexpr size_t kCodes = 17;                                  // StatusCode values
  static constexpr size_t kBuckets = Metrics::kLatencyBoundsSeconds.size() + 1;  // + the +Inf bucket

  explicit MethodSeries(std::map<std::string, std::string> labels) : labels_(std::move(labels)) {}
  void Record(StatusCode code, std::chrono::nanoseconds elapsed);

  // A merged read of every shard (not one atomic snapshot: a call recorded meanwhile may be
  // counted in one field and not yet in another).
  struct Totals {
    std::array<uint64_t, kCodes> by_code{};
    std::array<uint64_t, kBuckets> buckets{};  // per bucket, not cumulative; the last is +Inf
    uint64_t sum_ns = 0;
  };
  Totals Read() const;
  const std::map<std::string, std::string>& labels() const { return labels_; }

 private:
  static constexpr size_t kShards = 8;
  struct alignas(128) Shard {
    std::array<std::atomic<uint64_t>, kCodes> by_code{};
    std::array<std::atomic<uint64_t>, kBuckets> buckets{};
    std::atomic<uint64_t> sum_ns{0};
  };
  const std::map<std::string, std::string> labels_;
  std::array<Shard, kShards> shards_{};
};

// The requests counter family (one series per code seen) and the duration histogram family of a
// set of MethodSeries, exported through a collector of `metrics` while this object lives.
class MethodSeriesFamily {
 public:
  struct Names {
    std::string requests, requests_help, duration, duration_help;
  };
  MethodSeriesFamily(Metrics& metrics, Names names);
  // A new series; it lives as long as this family.
  MethodSeries& Add(std::map<std::string, std::string> labels);

 private:
  struct State;
  std::shared_ptr<State> state_;  // owned with the collector: the series outlive any collection
  std::shared_ptr<void> collector_;
};

}  // namespace krpc
