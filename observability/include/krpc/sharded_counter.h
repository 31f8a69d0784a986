// Per-thread shards for counters on the call path. Two I/O threads adding to one atomic share
// its cache line (every add moves the line between cores, and is a locked instruction); a shard
// per thread keeps each add on a line that thread alone writes, without a lock prefix, and
// readers (a scrape, once a second or less) sum the shards.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace krpc {

// The calling thread's number, fixed for the thread's life (threads numbered in the order they
// first ask).
inline size_t ThreadShard() {
  static std::atomic<size_t> next{0};
  thread_local const size_t shard = next.fetch_add(1, std::memory_order_relaxed);
  return shard;
}

// Adds `n` to shard `shard` of `kShards`: the first kShards - 1 threads own a shard each and add
// with a plain load and store (no locked instruction: no other thread writes that shard; readers
// see either value); every later thread shares the last shard with an atomic add.
template <size_t kShards>
inline void ShardAdd(std::atomic<uint64_t>& cell, size_t shard, uint64_t n) {
  if (shard < kShards - 1) {
    cell.store(cell.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  } else {
    cell.fetch_add(n, std::memory_order_relaxed);
  }
}
template <size_t kShards>
inline size_t ShardOf(size_t thread) { return thread < kShards - 1 ? thread : kShards - 1; }

// A monotonic counter with one cache line per shard.
class ShardedCounter {
 public:
  static constexpr size_t kShards = 8;
  void Add(uint64_t n) {
    const size_t shard = ShardOf<kShards>(ThreadShard());
    ShardAdd<kShards>(cells_[shard].value, shard, n);
  }
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
