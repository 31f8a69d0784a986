// FaultInjector: a ServerInterceptor for tests and demos that makes calls fail with a code (at
// a rate), slow down, or hang, per method or for all. Off unless a node is started with
// enable_fault_injection; set through the admin port (POST/DELETE /admin/fault).
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "krpc/server.h"

namespace krpc {

struct FaultSpec {
  std::string method;        // "" = every method; "Method", "pkg.Service/Method" or "/pkg.Service/Method"
  StatusCode code = StatusCode::kOk;
  double rate = 1.0;         // share of matching calls that get `code`
  int delay_ms = 0;          // added before the handler (or the error)
  bool hang = false;         // never answer
  int jitter_ms = 0;         // plus a uniformly random 0..jitter_ms of delay

  // {"method":"...","code":"UNAVAILABLE","rate":1.0,"delay_ms":0,"hang":false,"jitter_ms":0}
  static StatusOr<FaultSpec> FromJson(std::string_view json);
  std::string ToJson() const;
};

class FaultInjector : public ServerInterceptor {
 public:
  FaultInjector();
  ~FaultInjector() override;
  // Adds or replaces the fault for spec.method.
  void Set(const FaultSpec& spec);
  void Clear();
  std::vector<FaultSpec> List() const;
  Interception Intercept(std::string_view service, std::string_view method) override;
  uint64_t injected() const { return injected_.load(); }

 private:
  using Specs = std::vector<FaultSpec>;
  struct State;                   // the specs, replaced whole, read lock-free per call
  std::unique_ptr<State> specs_;
  std::atomic<uint64_t> injected_{0};
};

}  // namespace krpc
