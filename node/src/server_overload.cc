// The node's overload settings at Start: max_inflight=auto (the node's adaptive limit) and
// method_max_inflight (a fixed or adaptive limit per method). A bad value stops Start naming
// its key.
#include <charconv>

#include "krpc/config.h"
#include "server_impl.h"

namespace krpc {
namespace {

Status Bad(std::string_view key, const std::string& what) {
  return {StatusCode::kInvalidArgument, "bad " + std::string(key) + ": " + what};
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

void AdaptiveLimitOptions::Register(OptionSet& o) {
  o.AddInt("auto_limit_initial", &initial, 1, 1000000, "adaptive limit: the first limit");
  o.AddInt("auto_limit_min", &min, 1, 1000000, "adaptive limit: lowest limit");
  o.AddInt("auto_limit_max", &max, 1, 10000000, "adaptive limit: highest limit");
  o.AddDouble("auto_limit_tolerance", &tolerance, 1.0, 10.0,
              "adaptive limit: latency allowed over the no-load latency before the limit shrinks");
  o.AddInt("auto_limit_window_ms", &window_ms, 1, 60000, "adaptive limit: how often it is recomputed");
  o.AddInt("auto_limit_probe_interval_ms", &probe_interval_ms, 100, 3600000,
           "adaptive limit: how often the no-load latency is re-measured");
}

Status Server::Impl::ConfigureOverload() {
  auto& s = *shared;
  const auto& o = s.options;
  const auto& a = o.auto_limit;
  if (a.min > a.max) return Bad("auto_limit_min", "above auto_limit_max");
  if (o.max_inflight < 1) return Bad("max_inflight", "below 1");
  if (o.overload_pushback_ms < -1) return Bad("overload_pushback_ms", "below -1");
  if (o.max_inflight_auto) {
    s.node_limit = std::make_unique<node::ConcurrencyLimit>(node::ConcurrencyLimitOptions{true, 0, a}, 1);
  }
  // "/pkg.Svc/Method=N|auto,..."
  std::string_view rest = o.method_max_inflight;
  uint64_t seed = 2;
  while (!rest.empty()) {
    const size_t comma = rest.find(',');
    const std::string_view item = Trim(rest.substr(0, comma));
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    if (item.empty()) continue;
    const size_t eq = item.find('=');
    if (eq == std::string_view::npos) return Bad("method_max_inflight", "'" + std::string(item) + "' is not /pkg.Svc/Method=N|auto");
    const std::string method(Trim(item.substr(0, eq)));
    const std::string_view value = Trim(item.substr(eq + 1));
    const node::MethodEntry* entry = s.methods.Find(method);
    if (entry == nullptr) return Bad("method_max_inflight", "no method '" + method + "' is served (want /pkg.Svc/Method)");
    node::ConcurrencyLimitOptions limit{value == "auto", 0, a};
    if (!limit.is_adaptive) {
      const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), limit.fixed);
      if (ec != std::errc() || end != value.data() + value.size() || limit.fixed < 1) {
        return Bad("method_max_inflight", "'" + std::string(value) + "' for " + method + " is not a positive integer nor 'auto'");
      }
    }
    entry->load->limit = std::make_unique<node::ConcurrencyLimit>(limit, seed++);
  }
  return Status::Ok();
}

}  // namespace krpc
