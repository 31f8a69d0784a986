// DeadlineQueue: a connection's wake-ups (each in-flight attempt's deadline, and its hedge
// time) in time order. Most attempts on one connection share one timeout and one hedge delay,
// so their deadlines, and their hedge times, arrive in time order: each kind goes to the back
// of a FIFO of its own, O(1); one earlier than its FIFO's last (a call with a shorter timeout)
// goes to a heap beside them. Entries of attempts that already finished are dropped from a
// FIFO's front as new ones are pushed, so the queue holds about the attempts in flight rather
// than every attempt of the last timeout.
// Owning-thread only (the transport's loop). Internal header.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <queue>
#include <utility>
#include <vector>

namespace krpc::impl {

class DeadlineQueue {
 public:
  using Clock = std::chrono::steady_clock;
  struct Entry {
    Clock::time_point when;
    uint64_t id;  // the attempt's call id
    bool hedge;   // its hedge time, else its deadline
    bool operator>(const Entry& o) const { return when > o.when; }
  };

  // Adds `e`; first drops finished entries from the front of its FIFO (`running(id)`:
  // whether the attempt with that id is still in flight).
  template <typename Running>
  void Push(const Entry& e, Running&& running) {
    auto& fifo = fifos_[e.hedge];
    while (!fifo.empty() && !running(fifo.front().id)) fifo.pop_front();
    if (fifo.empty() || fifo.back().when <= e.when) {
      fifo.push_back(e);
    } else {
      heap_.push(e);
    }
  }
  bool empty() const { return fifos_[0].empty() && fifos_[1].empty() && heap_.empty(); }
  size_t size() const { return fifos_[0].size() + fifos_[1].size() + heap_.size(); }
  // The earliest entry; the queue must not be empty.
  const Entry& Top() const { return *Earliest().first; }
  // Removes the earliest entry and returns it; the queue must not be empty.
  Entry Pop() {
    const auto [top, source] = Earliest();
    const Entry e = *top;
    if (source == kHeap) {
      heap_.pop();
    } else {
      fifos_[source].pop_front();
    }
    return e;
  }

 private:
  static constexpr int kHeap = 2;
  // The earliest of the two FIFOs' fronts and the heap's top, and where it is (0, 1, kHeap).
  std::pair<const Entry*, int> Earliest() const {
    const Entry* best = nullptr;
    int source = kHeap;
    for (int i = 0; i < 2; ++i) {
      if (!fifos_[i].empty() && (!best || fifos_[i].front().when < best->when)) {
        best = &fifos_[i].front();
        source = i;
      }
    }
    if (!heap_.empty() && (!best || heap_.top().when < best->when)) return {&heap_.top(), kHeap};
    return {best, source};
  }

  // Deadlines, and hedge times: in each, `when` never decreases from front to back.
  std::deque<Entry> fifos_[2];
  std::priority_queue<Entry, std::vector<Entry>, std::greater<>> heap_;
};

}  // namespace krpc::impl
