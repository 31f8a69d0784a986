#include "krpc/fault_injector.h"

#include "krpc/impl/snapshot.h"

#include <charconv>
#include <random>

#include "krpc/json.h"

namespace krpc {
namespace {

bool Matches(const std::string& pattern, std::string_view service, std::string_view method) {
  if (pattern.empty() || pattern == "*") return true;
  std::string_view p = pattern;
  if (p.front() == '/') p.remove_prefix(1);
  const auto slash = p.find('/');
  if (slash == std::string_view::npos) return p == method;
  return p.substr(0, slash) == service && p.substr(slash + 1) == method;
}

}  // namespace

StatusOr<FaultSpec> FaultSpec::FromJson(std::string_view text) {
  auto obj = json::ParseFlatObject(text);
  if (!obj) return Status(StatusCode::kInvalidArgument, "fault: body must be a flat JSON object");
  FaultSpec f;
  for (const auto& [k, v] : *obj) {
    if (k == "method") {
      f.method = v;
    } else if (k == "code") {
      if (!ParseStatusCode(v, &f.code)) return Status(StatusCode::kInvalidArgument, "fault: unknown code '" + v + "'");
    } else if (k == "rate") {
      auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), f.rate);
      if (ec != std::errc() || f.rate < 0 || f.rate > 1) return Status(StatusCode::kInvalidArgument, "fault: rate must be 0..1");
    } else if (k == "delay_ms") {
      auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), f.delay_ms);
      if (ec != std::errc() || f.delay_ms < 0 || f.delay_ms > 600000)
        return Status(StatusCode::kInvalidArgument, "fault: delay_ms must be 0..600000");
    } else if (k == "jitter_ms") {
      auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), f.jitter_ms);
      if (ec != std::errc() || f.jitter_ms < 0 || f.jitter_ms > 600000)
        return Status(StatusCode::kInvalidArgument, "fault: jitter_ms must be 0..600000");
    } else if (k == "hang") {
      if (v != "true" && v != "false") return Status(StatusCode::kInvalidArgument, "fault: hang must be true or false");
      f.hang = v == "true";
    } else {
      return Status(StatusCode::kInvalidArgument, "fault: unknown field '" + k + "'");
    }
  }
  if (f.code == StatusCode::kOk && f.delay_ms == 0 && f.jitter_ms == 0 && !f.hang) {
    return Status(StatusCode::kInvalidArgument, "fault: give a code, a delay_ms, a jitter_ms or hang");
  }
  return f;
}

std::string FaultSpec::ToJson() const {
  return json::Object()
      .Add("method", method)
      .Add("code", StatusCodeName(code))
      .Add("rate", rate)
      .Add("delay_ms", delay_ms)
      .Add("hang", hang)
      .Add("jitter_ms", jitter_ms)
      .str();
}

struct FaultInjector::State {
  impl::Snapshot<Specs> cell{std::make_shared<const Specs>()};
};

FaultInjector::FaultInjector() : specs_(std::make_unique<State>()) {}
FaultInjector::~FaultInjector() = default;

void FaultInjector::Set(const FaultSpec& spec) {
  auto next = std::make_shared<Specs>(*specs_->cell.load());
  std::erase_if(*next, [&](const FaultSpec& f) { return f.method == spec.method; });
  next->push_back(spec);
  specs_->cell.store(next);
}

void FaultInjector::Clear() { specs_->cell.store(std::make_shared<const Specs>()); }

std::vector<FaultSpec> FaultInjector::List() const { return *specs_->cell.load(); }

Interception FaultInjector::Intercept(std::string_view service, std::string_view method) {
  Interception out;
  const auto specs = specs_->cell.load();
  for (const auto& f : *specs) {
    if (!Matches(f.method, service, method)) continue;
    injected_.fetch_add(1, std::memory_order_relaxed);
    static thread_local std::mt19937 rng(std::random_device{}());
    out.delay = std::chrono::milliseconds(f.delay_ms);
    if (f.jitter_ms > 0) out.delay += std::chrono::milliseconds(std::uniform_int_distribution<int>(0, f.jitter_ms)(rng));
    out.hang = f.hang;
    if (f.code != StatusCode::kOk && std::uniform_real_distribution<double>(0, 1)(rng) < f.rate) {
      out.status = Status(f.code, "injected fault");
    }
    break;
  }
  return out;
}

}  // namespace krpc
