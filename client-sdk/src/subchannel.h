// Subchannel: everything the client knows about one endpoint. Owns the current transport,
// creates a new one on demand, and applies reconnect backoff (initial * multiplier^n with
// jitter, reset once connected or when discovery changes). Lives on one I/O thread; StartCall
// may be called from any thread.
#pragma once

#include <boost/asio/io_context.hpp>

#include <atomic>
#include <memory>
#include <random>

#include "transport.h"

namespace krpc::impl {

struct BackoffOptions {
  std::chrono::milliseconds initial{1000};
  double multiplier = 1.6;
  double jitter = 0.2;
  std::chrono::milliseconds max{30000};
};

class Subchannel : public TransportListener, public std::enable_shared_from_this<Subchannel> {
 public:
  using Clock = std::chrono::steady_clock;
  enum class State : int { kIdle, kConnecting, kReady, kBackoff, kShutdown };

  Subchannel(boost::asio::io_context::executor_type executor, Endpoint endpoint, TransportOptions transport_options,
             BackoffOptions backoff);
  ~Subchannel() override;

  // Any thread.
  void StartCall(CallData* call);
  void Shutdown();
  void ResetBackoff();
  const Endpoint& endpoint() const { return endpoint_; }
  const std::string& address() const { return address_; }
  State state() const { return state_.load(std::memory_order_relaxed); }
  uint64_t inflight() const { return inflight_.load(std::memory_order_relaxed); }
  uint64_t connects() const { return connects_.load(std::memory_order_relaxed); }
  uint64_t connect_failures() const { return connect_failures_.load(std::memory_order_relaxed); }
  static const char* StateName(State s);

  // TransportListener (owning thread).
  void OnTransportReady(Transport* t) override;
  void OnTransportDraining(Transport* t) override;
  void OnTransportClosed(Transport* t, const Status& why, bool was_ready) override;

  // Counts calls while they run here (the channel's sink reports completion).
  void CallStarted() { inflight_.fetch_add(1, std::memory_order_relaxed); }
  void CallEnded() { inflight_.fetch_sub(1, std::memory_order_relaxed); }

 private:
  void StartOnLoop(CallData* call);
  void SetState(State s) { state_.store(s, std::memory_order_relaxed); }

  boost::asio::io_context::executor_type executor_;
  const Endpoint endpoint_;
  const std::string address_;
  const TransportOptions transport_options_;
  const BackoffOptions backoff_;
  std::shared_ptr<Transport> transport_;
  std::chrono::milliseconds next_backoff_;
  Clock::time_point retry_at_;
  Status last_error_;
  std::minstd_rand rng_;
  std::atomic<State> state_{State::kIdle};
  std::atomic<uint64_t> inflight_{0};
  std::atomic<uint64_t> connects_{0};
  std::atomic<uint64_t> connect_failures_{0};
};

}  // namespace krpc::impl
