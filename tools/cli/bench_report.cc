#include "bench_report.h"

#include <fmt/format.h>

#include <algorithm>

#include "krpc/json.h"

namespace krpc::cli {
namespace {
constexpr double kPercents[] = {10, 25, 50, 75, 90, 95, 99, 99.9};
constexpr int kHistogramBuckets = 10;

std::string Ms(double us) { return fmt::format("{:.3f} ms", us / 1000.0); }
}  // namespace

void BenchReport::Summarize(const tools::LatencyHistogram& latencies, const tools::LatencyHistogram& ok_latencies) {
  ok = ok_latencies.count();
  if (auto it = status_codes.find("RESOURCE_EXHAUSTED"); it != status_codes.end()) refused = it->second;
  if (ok > 0) {
    ok_p50_us = ok_latencies.Percentile(0.5);
    ok_p99_us = ok_latencies.Percentile(0.99);
  }
  percentiles.clear();
  histogram.clear();
  if (latencies.count() == 0) return;
  for (double p : kPercents) percentiles.push_back({p, latencies.Percentile(p / 100.0)});
  // Linear buckets between the fastest and the slowest call (as ghz draws them), filled from
  // the log-linear histogram (each of its buckets counted at its upper edge, ~1.5 % precise).
  const double lo = fastest_us, hi = std::max(slowest_us, fastest_us + 1);
  const double width = (hi - lo) / kHistogramBuckets;
  for (int i = 1; i <= kHistogramBuckets; ++i) histogram.push_back({lo + width * i, 0});
  for (int b = 0; b < tools::LatencyHistogram::kBuckets; ++b) {
    const uint64_t n = latencies.BucketCount(b);
    if (n == 0) continue;
    const double v = std::clamp(static_cast<double>(tools::LatencyHistogram::BucketUpper(b)), lo, hi);
    const int i = std::min(kHistogramBuckets - 1, static_cast<int>((v - lo) / width));
    histogram[i].count += n;
  }
}

std::string BenchReport::Text() const {
  std::string out = fmt::format(
      "\nSummary:\n  Method:\t{}\n  Target:\t{}\n  Mode:\t\t{}\n  Count:\t{}\n  Total:\t{:.2f} s\n"
      "  Slowest:\t{}\n  Fastest:\t{}\n  Average:\t{}\n  Requests/sec:\t{:.2f}\n"
      "  Goodput:\t{:.2f} OK/s ({:.1f} %), OK p50 {}, OK p99 {}, refused {:.1f} %\n",
      method, target, mode, count, total_s, Ms(slowest_us), Ms(fastest_us), Ms(average_us), rate(), goodput(),
      count ? 100.0 * static_cast<double>(ok) / static_cast<double>(count) : 0.0, Ms(ok_p50_us), Ms(ok_p99_us),
      count ? 100.0 * static_cast<double>(refused) / static_cast<double>(count) : 0.0);
  if (!histogram.empty()) {
    uint64_t most = 1;
    for (const auto& b : histogram) most = std::max(most, b.count);
    out += "\nResponse time histogram:\n";
    for (const auto& b : histogram) {
      const int bar = static_cast<int>(40.0 * static_cast<double>(b.count) / static_cast<double>(most) + 0.5);
      std::string bars;
      for (int i = 0; i < bar; ++i) bars += "∎";
      out += fmt::format("  {:10.3f} [{}]\t|{}\n", b.mark_us / 1000.0, b.count, bars);
    }
    out += "\nLatency distribution:\n";
    for (const auto& p : percentiles) out += fmt::format("  {:g} % in {}\n", p.percent, Ms(p.latency_us));
  }
  out += "\nStatus code distribution:\n";
  for (const auto& [code, n] : status_codes) out += fmt::format("  [{}]\t{} responses\n", code, n);
  if (!errors.empty()) {
    out += "\nError distribution:\n";
    for (const auto& [msg, n] : errors) out += fmt::format("  [{}]\t{}\n", n, msg);
  }
  return out;
}

std::string BenchReport::Json() const {
  json::Array pct, hist;
  for (const auto& p : percentiles) pct.AddRaw(json::Object().Add("percentage", p.percent).Add("latency_ms", p.latency_us / 1000).str());
  uint64_t in_hist = 0;
  for (const auto& b : histogram) in_hist += b.count;
  for (const auto& b : histogram) {
    hist.AddRaw(json::Object()
                    .Add("mark_ms", b.mark_us / 1000)
                    .Add("count", b.count)
                    .Add("frequency", in_hist ? static_cast<double>(b.count) / static_cast<double>(in_hist) : 0.0)
                    .str());
  }
  json::Object codes, errs;
  for (const auto& [code, n] : status_codes) codes.Add(code, n);
  for (const auto& [msg, n] : errors) errs.Add(msg, n);
  return json::Object()
             .Add("method", method)
             .Add("target", target)
             .Add("mode", mode)
             .Add("count", count)
             .Add("total_s", total_s)
             .Add("fastest_ms", fastest_us / 1000)
             .Add("slowest_ms", slowest_us / 1000)
             .Add("average_ms", average_us / 1000)
             .Add("rps", rate())
             .Add("ok", ok)
             .Add("goodput", goodput())
             .Add("ok_p50_ms", ok_p50_us / 1000)
             .Add("ok_p99_ms", ok_p99_us / 1000)
             .Add("refused", refused)
             .AddRaw("latency_distribution", pct.str())
             .AddRaw("histogram", hist.str())
             .AddRaw("status_code_distribution", codes.str())
             .AddRaw("error_distribution", errs.str())
             .str() +
         "\n";
}

std::string BenchReport::Csv() const {
  std::string header = "method,count,total_s,rps,average_ms,fastest_ms,slowest_ms";
  std::string row = fmt::format("{},{},{:.3f},{:.2f},{:.3f},{:.3f},{:.3f}", method, count, total_s, rate(),
                                average_us / 1000, fastest_us / 1000, slowest_us / 1000);
  for (const auto& p : percentiles) {
    header += fmt::format(",p{:g}_ms", p.percent);
    row += fmt::format(",{:.3f}", p.latency_us / 1000);
  }
  header += ",ok,errors,goodput,ok_p50_ms,ok_p99_ms,refused";
  row += fmt::format(",{},{},{:.2f},{:.3f},{:.3f},{}", ok, count - ok, goodput(), ok_p50_us / 1000, ok_p99_us / 1000,
                     refused);
  return header + "\n" + row + "\n";
}

}  // namespace krpc::cli
