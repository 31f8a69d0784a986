// Snapshot<T>: one immutable value, replaced as a whole (an endpoint set, a route map, fault
// specs), read on the call path from any thread. A reader copies the shared_ptr under a tiny
// spinlock held for two pointer operations; the replaced value is destroyed outside it.
//
// Why not std::atomic<std::shared_ptr<T>>: libstdc++ 12 implements it with a lock bit inside
// the reference-count word, which ThreadSanitizer cannot see, so every swap is reported as a
// race. This cell is as cheap (it is the same design) and uses only std::atomic operations
// with acquire/release ordering that the sanitizers understand. Internal header.
#pragma once

#include <atomic>
#include <memory>
#include <thread>

namespace krpc::impl {

template <typename T>
class Snapshot {
 public:
  Snapshot() = default;
  explicit Snapshot(std::shared_ptr<const T> value) : value_(std::move(value)) {}
  Snapshot(const Snapshot&) = delete;
  Snapshot& operator=(const Snapshot&) = delete;

  std::shared_ptr<const T> load() const {
    Lock();
    std::shared_ptr<const T> out = value_;
    Unlock();
    return out;
  }
  void store(std::shared_ptr<const T> value) {
    Lock();
    value_.swap(value);
    Unlock();
  }  // the previous value is released here, outside the lock

 private:
  void Lock() const {
    while (locked_.exchange(true, std::memory_order_acquire)) {
      while (locked_.load(std::memory_order_relaxed)) std::this_thread::yield();
    }
  }
  void Unlock() const { locked_.store(false, std::memory_order_release); }

  mutable std::atomic<bool> locked_{false};
  std::shared_ptr<const T> value_;
};

}  // namespace krpc::impl
