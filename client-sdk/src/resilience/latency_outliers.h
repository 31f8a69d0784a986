// Latency outlier detection (the latency counterpart of Envoy's success-rate ejection): at
// every sweep, each endpoint's mean latency over the interval is compared with the median of
// the endpoints in rotation; one above outlier_latency_factor x that median, and above
// outlier_latency_min_ms, with at least outlier_latency_min_samples calls, is an outlier. The
// caller ejects it through the breaker (and so through the ejection cap). A pure function,
// so tests give it the figures.
#pragma once

#include <cstdint>
#include <vector>

#include "krpc/client_options.h"

namespace krpc::impl {

struct EndpointSample {
  uint64_t calls = 0;       // successful (or cancelled-after-a-while) attempts in the interval
  uint64_t latency_us = 0;  // their summed latency
  bool in_rotation = true;  // only endpoints in rotation are judged and make the median
};

// Indices of the outliers; `median_us` receives the median the judgement used (0: none).
std::vector<size_t> LatencyOutliers(const std::vector<EndpointSample>& endpoints, const OutlierOptions& options,
                                    double* median_us);

}  // namespace krpc::impl
