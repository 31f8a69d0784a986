#include "krpc/method_series.h"

namespace krpc {

void MethodSeries::Record(StatusCode code, std::chrono::nanoseconds elapsed) {
  const auto i = static_cast<size_t>(code) < by_code_.size() ? static_cast<size_t>(code) : 2;
  prometheus::Counter* c = by_code_[i].load(std::memory_order_acquire);
  if (!c) {
    std::lock_guard lock(mu_);
    c = by_code_[i].load();
    if (!c) {
      auto labels = labels_;
      labels["code"] = std::string(StatusCodeName(static_cast<StatusCode>(i)));
      c = &requests_.Add(labels);
      by_code_[i].store(c, std::memory_order_release);
    }
  }
  c->Increment();
  duration_.Observe(std::chrono::duration<double>(elapsed).count());
}

}  // namespace krpc
