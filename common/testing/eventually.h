// Eventually(pred, timeout): polls pred() every 20 ms until it holds or the timeout passes;
// returns its last value. For tests waiting on asynchronous effects (discovery, breakers).
// RunUntil(io, pred): the same for a test that owns its io_context and must drive it.
#pragma once

#include <boost/asio/io_context.hpp>

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

// Runs `io` on this thread in 5 ms slices (and `step()` after each) until pred() holds;
// false if `guard` passed first (the guard only ends a hang, it is never what a test measures).
template <typename F, typename Step>
bool RunUntil(boost::asio::io_context& io, F pred, Step step, std::chrono::seconds guard = std::chrono::seconds(60)) {
  const auto until = std::chrono::steady_clock::now() + guard;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > until) return false;
    io.restart();
    io.run_for(std::chrono::milliseconds(5));
    step();
  }
  return true;
}
template <typename F>
bool RunUntil(boost::asio::io_context& io, F pred) {
  return RunUntil(io, std::move(pred), [] {});
}

}  // namespace krpc::testing
