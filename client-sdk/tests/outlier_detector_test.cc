// OutlierDetector by name, on a real io_context and timers, with a prober of the test's own
// that answers each health check as the test says: failures eject through the route's cap,
// the isolation ends in half-open probes that restore the endpoint, a stall whose probe fails
// ejects at once, and a hung peer is ejected without waiting for failures.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <memory>

#include "eventually.h"
#include "resilience/outlier_detector.h"

namespace krpc::impl {
namespace {
using Clock = std::chrono::steady_clock;
using State = CircuitBreaker::State;

class TestProber final : public ProbeSender {
 public:
  void SendProbe() override { ++probes; }
  void OnRestored() override { ++restored; }
  int probes = 0;
  int restored = 0;
};

class OutlierDetectorTest : public ::testing::Test {
 protected:
  std::shared_ptr<OutlierDetector> Make(std::shared_ptr<EjectionGuard> guard = nullptr) {
    BreakerOptions o;
    o.consecutive_failures = 3;
    o.base_isolation_ms = 20;
    o.max_isolation_ms = 100;
    o.half_open_probes = 2;
    if (!guard) {
      guard = std::make_shared<EjectionGuard>();
      guard->max_share = 1.0;
    }
    return std::make_shared<OutlierDetector>(io_.get_executor(), "10.0.0.1:7000", o, guard, nullptr, prober_);
  }
  template <typename Pred>
  bool RunUntil(Pred done) {
    return krpc::testing::RunUntil(io_, std::move(done));
  }
  boost::asio::io_context io_;
  std::shared_ptr<TestProber> prober_ = std::make_shared<TestProber>();
};

TEST_F(OutlierDetectorTest, consecutive_failures_eject_and_passing_half_open_probes_restore) {
  auto d = Make();
  d->OnCallResult(true, Clock::now());
  EXPECT_EQ(prober_->probes, 1) << "a failure is a suspicion: probed at once";
  d->OnProbeDone(false);  // the suspicion probe fails too: counts like a failure, probes again
  EXPECT_EQ(d->state(), State::kClosed);
  d->OnProbeDone(false);
  EXPECT_EQ(d->state(), State::kOpen) << "three failures in a row";
  EXPECT_FALSE(d->in_rotation());
  const int before = prober_->probes;
  ASSERT_TRUE(RunUntil([&] { return d->state() == State::kHalfOpen && prober_->probes > before; }));
  d->OnProbeDone(true);
  EXPECT_EQ(d->state(), State::kHalfOpen) << "two probes must pass";
  d->OnProbeDone(true);
  EXPECT_EQ(d->state(), State::kClosed);
  EXPECT_EQ(prober_->restored, 1) << "restored: slow start begins";
}

TEST_F(OutlierDetectorTest, a_failed_half_open_probe_reopens_the_breaker_until_the_next_half_open) {
  auto d = Make();
  d->OnPeerSilent();  // hung: ejected at once
  EXPECT_EQ(d->state(), State::kOpen);
  ASSERT_TRUE(RunUntil([&] { return d->state() == State::kHalfOpen; }));
  d->OnProbeDone(false);
  EXPECT_EQ(d->state(), State::kOpen);
  ASSERT_TRUE(RunUntil([&] { return d->state() == State::kHalfOpen; })) << "and half-open again later";
  EXPECT_GE(d->transitions(), 4u);
}

TEST_F(OutlierDetectorTest, a_stall_whose_probe_fails_ejects_at_once) {
  auto d = Make();
  d->OnStalled();
  EXPECT_EQ(prober_->probes, 1);
  d->OnProbeDone(false);
  EXPECT_EQ(d->state(), State::kOpen);
}

TEST_F(OutlierDetectorTest, the_ejection_cap_keeps_the_last_endpoints_in_rotation) {
  auto guard = std::make_shared<EjectionGuard>();
  guard->max_share = 0.5;
  auto a = Make(guard);
  auto b = Make(guard);
  a->OnPeerSilent();
  b->OnPeerSilent();
  EXPECT_EQ(a->state(), State::kOpen);
  EXPECT_EQ(b->state(), State::kClosed) << "half of two endpoints may be ejected, not both";
  EXPECT_EQ(guard->refused.load(), 1u);
  EXPECT_TRUE(b->EjectOutlier("latency") == false);
}

}  // namespace
}  // namespace krpc::impl
