#include "deadline_queue.h"

#include <gtest/gtest.h>

#include <set>

namespace krpc::impl {
namespace {
using Clock = DeadlineQueue::Clock;
using std::chrono::milliseconds;

TEST(DeadlineQueueTest, pops_in_time_order_whatever_order_entries_arrive_in) {
  DeadlineQueue q;
  const auto t0 = Clock::now();
  const auto all = [](uint64_t) { return true; };
  // Deadlines in order, one shorter timeout out of order, hedge times in order.
  const int offsets[] = {50, 60, 70, 20, 80, 5};
  const bool hedges[] = {false, false, false, false, false, true};
  for (int i = 0; i < 6; ++i) q.Push({t0 + milliseconds(offsets[i]), uint64_t(i + 1), hedges[i]}, all);
  q.Push({t0 + milliseconds(15), 7, true}, all);
  q.Push({t0 + milliseconds(10), 8, true}, all);  // earlier than its FIFO's last
  ASSERT_EQ(q.size(), 8u);
  std::vector<int> got;
  while (!q.empty()) {
    const auto top = q.Top();
    const auto e = q.Pop();
    EXPECT_EQ(top.id, e.id);
    got.push_back(static_cast<int>(std::chrono::duration_cast<milliseconds>(e.when - t0).count()));
  }
  EXPECT_EQ(got, (std::vector<int>{5, 10, 15, 20, 50, 60, 70, 80}));
}

TEST(DeadlineQueueTest, entries_of_finished_attempts_are_dropped_as_new_ones_arrive) {
  DeadlineQueue q;
  std::set<uint64_t> running;
  const auto is_running = [&](uint64_t id) { return running.count(id) > 0; };
  const auto t0 = Clock::now();
  // 10,000 calls with a 5 s timeout, each finished before the next starts: without the drop
  // the queue would hold all 10,000 until their deadlines.
  for (uint64_t id = 1; id <= 10000; ++id) {
    running.insert(id);
    q.Push({t0 + milliseconds(5000) + std::chrono::microseconds(id), id, false}, is_running);
    running.erase(id);
  }
  EXPECT_LE(q.size(), 1u);
  // A call still running keeps its entry, and so does everything behind it.
  running.insert(10001);
  q.Push({t0 + milliseconds(6000), 10001, false}, is_running);
  running.insert(10002);
  q.Push({t0 + milliseconds(6001), 10002, false}, is_running);
  EXPECT_EQ(q.size(), 2u);
  EXPECT_EQ(q.Pop().id, 10001u);
  EXPECT_EQ(q.Pop().id, 10002u);
  EXPECT_TRUE(q.empty());
}

}  // namespace
}  // namespace krpc::impl
