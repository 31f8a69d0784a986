// Per-thread shards for counters on the call path. Two I/O threads adding to one atomic share
// its cache line (every add moves the line between cores); a shard per thread keeps each add on
// a line that thread alone writes, and readers (a scrape, once a second or less) sum the shards.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace krpc {

// The calling thread's shard number, fixed for the thread's life (threads numbered in the order
// they first ask). Take it modulo the shard count: threads beyond it share shards, still exact.
size_t ThreadShard();

// A monotonic counter with one cache line per shard.
class ShardedCounter {
 public:
  static constexpr size_t kShards = 8;
  void Add(uint64_t n) { cells_[ThreadShard() % kShards].value.fetch_add(n, std::memory_order_relaxed); }
  uint64_t Read() const {
    uint64_t sum = 0;
    for (const auto& c : cells_) sum += c.value.load(std::memory_order_relaxed);
    return sum;
  }

 private:
  struct alignas(128) Cell {  // 128: also keeps the adjacent-line prefetcher off the neighbour
    std::atomic<uint64_t> value{0};
  };
  std::array<Cell, kShards> cells_{};
};

}  // namespace krpc
