#include "latency_outliers.h"

#include <algorithm>

namespace krpc::impl {

std::vector<size_t> LatencyOutliers(const std::vector<EndpointSample>& endpoints, const OutlierOptions& o,
                                    double* median_us) {
  *median_us = 0;
  std::vector<double> means;
  for (const auto& e : endpoints) {
    if (e.in_rotation && e.calls >= static_cast<uint64_t>(o.latency_min_samples)) {
      means.push_back(static_cast<double>(e.latency_us) / static_cast<double>(e.calls));
    }
  }
  if (means.size() < 2) return {};  // no peers to compare with
  std::sort(means.begin(), means.end());
  const size_t n = means.size();
  // The lower median: with two endpoints, the faster one is the reference.
  const double median = means[(n - 1) / 2];
  *median_us = median;
  const double limit = std::max(median * o.latency_factor, o.latency_min_ms * 1000.0);
  std::vector<size_t> out;
  for (size_t i = 0; i < endpoints.size(); ++i) {
    const auto& e = endpoints[i];
    if (!e.in_rotation || e.calls < static_cast<uint64_t>(o.latency_min_samples)) continue;
    if (static_cast<double>(e.latency_us) / static_cast<double>(e.calls) > limit) out.push_back(i);
  }
  return out;
}

}  // namespace krpc::impl
