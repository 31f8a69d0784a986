// ConcurrencyLimit on a driven clock: a simulated server with one worker and a fixed service
// time. Offered far more work than it can do, the adaptive limit settles where the latency
// stays near the no-load latency (the queue is short) and the worker is never idle; when the
// service gets slower, the limit follows the new latency after its next probe.
#include <gtest/gtest.h>

#include <deque>

#include "concurrency_limit.h"

namespace krpc::node {
namespace {
using Clock = ConcurrencyLimit::Clock;
using std::chrono::microseconds;

// One worker serving FIFO, every call takes `service`; callers offer `offered` calls per
// service time (more than it can do). Returns the latencies (arrival to reply) of the calls
// finished in the last `measure` of the run.
struct Simulation {
  ConcurrencyLimit& limit;
  Clock::time_point now{};
  std::deque<Clock::time_point> queue{};  // arrival times of admitted calls
  uint64_t admitted = 0, refused = 0, finished = 0;
  Clock::duration busy{};

  void Run(Clock::duration service, int offered, Clock::duration length, std::vector<Clock::duration>* latencies) {
    const auto end = now + length;
    while (now < end) {
      for (int i = 0; i < offered; ++i) {
        if (limit.TryAcquire()) {
          queue.push_back(now);
          ++admitted;
        } else {
          ++refused;
        }
      }
      if (queue.empty()) {
        now += service;
        continue;
      }
      now += service;
      busy += service;
      const auto arrival = queue.front();
      queue.pop_front();
      limit.Release(now - arrival, now, true);
      ++finished;
      if (latencies) latencies->push_back(now - arrival);
    }
  }
};

ConcurrencyLimitOptions Adaptive() {
  ConcurrencyLimitOptions o;
  o.is_adaptive = true;
  o.adaptive.initial = 50;
  return o;
}

TEST(ConcurrencyLimitTest, a_fixed_limit_refuses_beyond_it_and_never_moves) {
  ConcurrencyLimitOptions o;
  o.fixed = 3;
  ConcurrencyLimit limit(o);
  EXPECT_TRUE(limit.TryAcquire());
  EXPECT_TRUE(limit.TryAcquire());
  EXPECT_TRUE(limit.TryAcquire());
  EXPECT_FALSE(limit.TryAcquire());
  EXPECT_EQ(limit.refused(), 1u);
  for (int i = 0; i < 100; ++i) limit.Release(std::chrono::seconds(1), Clock::time_point{} + std::chrono::seconds(i), true);
  EXPECT_EQ(limit.limit(), 3);
  EXPECT_EQ(limit.inflight(), 3 - 100);  // releases are counted as given (the caller pairs them)
}

TEST(ConcurrencyLimitTest, overloaded_it_keeps_latency_near_the_no_load_latency_and_the_worker_busy) {
  ConcurrencyLimit limit(Adaptive());
  Simulation sim{limit};
  const auto service = microseconds(1000);
  sim.Run(service, 3, std::chrono::seconds(5), nullptr);  // settle
  std::vector<Clock::duration> latencies;
  const auto busy_before = sim.busy;
  sim.Run(service, 3, std::chrono::seconds(5), &latencies);
  // The no-load latency was measured (one call at a time takes one service time).
  EXPECT_EQ(limit.min_latency(), service);
  // 3x the capacity offered: most calls refused, the worker busy nearly all the time.
  EXPECT_GT(sim.refused, sim.admitted);
  EXPECT_GT((sim.busy - busy_before).count(), std::chrono::nanoseconds(std::chrono::seconds(5)).count() * 95 / 100);
  // Queueing stays short: the limit is a few calls, and so is every latency in service times.
  EXPECT_GE(limit.limit(), 2);
  EXPECT_LE(limit.limit(), 6);
  std::sort(latencies.begin(), latencies.end());
  EXPECT_LE(latencies[latencies.size() * 99 / 100], service * 6);
}

TEST(ConcurrencyLimitTest, an_unlimited_queue_in_the_same_simulation_grows_without_bound) {
  ConcurrencyLimitOptions o;
  o.fixed = 1000000;
  ConcurrencyLimit limit(o);
  Simulation sim{limit};
  std::vector<Clock::duration> latencies;
  sim.Run(microseconds(1000), 3, std::chrono::seconds(2), &latencies);
  // What the adaptive limit prevents: after 2 s at 3x, calls wait seconds.
  EXPECT_GT(latencies.back(), std::chrono::seconds(1));
}

TEST(ConcurrencyLimitTest, a_slower_service_is_re_measured_by_the_next_probe) {
  auto o = Adaptive();
  o.adaptive.probe_interval_ms = 1000;
  ConcurrencyLimit limit(o);
  Simulation sim{limit};
  sim.Run(microseconds(1000), 3, std::chrono::seconds(3), nullptr);
  EXPECT_EQ(limit.min_latency(), microseconds(1000));
  // The service becomes 4x slower (a slower deployment, not overload): after a probe the
  // no-load latency is the new one, and the limit is again a few calls, not the minimum.
  sim.Run(microseconds(4000), 3, std::chrono::seconds(5), nullptr);
  EXPECT_EQ(limit.min_latency(), microseconds(4000));
  EXPECT_GE(limit.limit(), 2);
  const auto finished = sim.finished;
  sim.Run(microseconds(4000), 3, std::chrono::seconds(4), nullptr);
  EXPECT_GT(sim.finished - finished, 900u);  // ~1000 possible in 4 s: the worker stays busy
}

TEST(ConcurrencyLimitTest, light_load_does_not_grow_the_limit) {
  ConcurrencyLimit limit(Adaptive());
  Simulation sim{limit};
  sim.Run(microseconds(1000), 1, std::chrono::seconds(3), nullptr);  // one call per service time: no queue
  const auto settled = limit.limit();
  sim.Run(microseconds(1000), 1, std::chrono::seconds(10), nullptr);
  EXPECT_LE(limit.limit(), settled);
  EXPECT_EQ(sim.refused, 0u);
}

}  // namespace
}  // namespace krpc::node
