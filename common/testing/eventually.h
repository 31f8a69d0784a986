// Eventually(pred, timeout): polls pred() every 20 ms until it holds or the timeout passes;
// returns its last value. For tests waiting on asynchronous effects (discovery, breakers).
#pragma once

#include <chrono>
#include <thread>

namespace krpc::testing {

template <typename F>
bool Eventually(F f, std::chrono::milliseconds timeout = std::chrono::seconds(15)) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    if (f()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return f();
}

}  // namespace krpc::testing
