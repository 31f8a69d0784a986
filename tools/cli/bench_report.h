// BenchReport: what `krpc bench` measured, and its rendering as ghz does: count, total time,
// fastest, slowest, average, calls/s, the latency distribution (p10 ... p99.9), a latency
// histogram and the status code and error distributions; as text, JSON or CSV.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "latency_histogram.h"

namespace krpc::cli {

struct BenchReport {
  std::string method;
  std::string target;
  std::string mode;                 // "closed loop, concurrency 16" / "open loop, 1000 calls/s"
  uint64_t count = 0;               // calls completed (any status)
  double total_s = 0;               // wall time of the run
  double fastest_us = 0, slowest_us = 0, average_us = 0;
  std::map<std::string, uint64_t> status_codes;  // "OK" -> n, "UNAVAILABLE" -> n
  std::map<std::string, uint64_t> errors;        // message -> n (the first 100 distinct)

  struct Percentile {
    double percent;
    double latency_us;
  };
  std::vector<Percentile> percentiles;  // 10, 25, 50, 75, 90, 95, 99, 99.9
  struct Bucket {
    double mark_us;  // upper edge
    uint64_t count;
  };
  std::vector<Bucket> histogram;        // 10 linear buckets from fastest to slowest
  // Goodput: calls that succeeded (within their deadline: a late answer is a failure), and
  // their own latency, which overload tests compare (failures are often fast refusals).
  uint64_t ok = 0;
  double ok_p50_us = 0, ok_p99_us = 0;
  uint64_t refused = 0;  // RESOURCE_EXHAUSTED: shed by a limit

  // Fills percentiles and histogram from `latencies` (every completed call, microseconds).
  // `ok_latencies`: the successful calls only.
  void Summarize(const tools::LatencyHistogram& latencies, const tools::LatencyHistogram& ok_latencies);
  double rate() const { return total_s > 0 ? static_cast<double>(count) / total_s : 0; }
  double goodput() const { return total_s > 0 ? static_cast<double>(ok) / total_s : 0; }

  std::string Text() const;
  std::string Json() const;
  std::string Csv() const;  // a header line and one row
};

}  // namespace krpc::cli
