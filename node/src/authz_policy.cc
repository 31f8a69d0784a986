#include "authz_policy.h"

#include <algorithm>

namespace krpc::node {

namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\n')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n')) s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  for (;;) {
    const auto at = s.find(sep);
    out.push_back(Trim(s.substr(0, at)));
    if (at == std::string_view::npos) return out;
    s.remove_prefix(at + 1);
  }
}

bool IsHealth(const MethodEntry& e) { return e.method->service()->full_name() == "krpc.health.v1.Health"; }

Status Bad(std::string_view rule, std::string_view why) {
  return {StatusCode::kInvalidArgument, "bad value for 'authz_allow': rule '" + std::string(rule) + "': " + std::string(why)};
}

}  // namespace

Status AuthzPolicy::Parse(std::string_view spec, bool default_deny, const MethodTable& methods) {
  default_deny_ = default_deny;
  rules_.clear();
  const auto services = methods.Services();
  for (std::string_view rule : Split(spec, ';')) {
    if (rule.empty()) continue;
    const auto eq = rule.find('=');
    if (eq == std::string_view::npos) return Bad(rule, "expected service[/method]=identity,...");
    const std::string_view target = Trim(rule.substr(0, eq));
    const auto slash = target.find('/');
    const std::string_view service = target.substr(0, slash);
    if (std::find(services.begin(), services.end(), service) == services.end()) {
      return Bad(rule, "no service '" + std::string(service) + "' is served");
    }
    if (slash != std::string_view::npos && methods.Find("/" + std::string(target)) == nullptr) {
      return Bad(rule, "service '" + std::string(service) + "' has no method '" + std::string(target.substr(slash + 1)) + "'");
    }
    std::vector<std::string> patterns;
    for (std::string_view p : Split(rule.substr(eq + 1), ',')) {
      if (p.empty()) return Bad(rule, "empty identity pattern");
      patterns.emplace_back(p);
    }
    auto& slot = rules_[std::string(target)];
    slot.insert(slot.end(), patterns.begin(), patterns.end());
  }
  return Status::Ok();
}

void AuthzPolicy::Apply(MethodTable& methods) const {
  methods.ForEach([&](MethodEntry& e) {
    e.allowed = nullptr;
    if (IsHealth(e)) return;
    // By the real service's name, so a service alias (service_aliases) has the same rules.
    const std::string& service = e.method->service()->full_name();
    if (auto it = rules_.find(service + "/" + e.method_name); it != rules_.end()) {
      e.allowed = &it->second;
    } else if (auto svc = rules_.find(service); svc != rules_.end()) {
      e.allowed = &svc->second;
    } else if (default_deny_) {
      e.allowed = &nobody_;
    }
  });
}

}  // namespace krpc::node
