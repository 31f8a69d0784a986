// MethodSeries: the per-(service, method) request counters (by status code, created on first
// use) and duration histogram that the server and client RPC metrics share.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <string>

#include "krpc/metrics.h"
#include "krpc/status.h"

namespace krpc {

// Per (service, method): request counters by code (created on first use) and a histogram.
class MethodSeries {
 public:
  MethodSeries(prometheus::Family<prometheus::Counter>& requests, prometheus::Histogram& duration,
               std::map<std::string, std::string> labels)
      : requests_(requests), duration_(duration), labels_(std::move(labels)) {}
  void Record(StatusCode code, std::chrono::nanoseconds elapsed);

 private:
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Histogram& duration_;
  std::map<std::string, std::string> labels_;
  std::mutex mu_;
  std::array<std::atomic<prometheus::Counter*>, 17> by_code_{};
};

}  // namespace krpc
