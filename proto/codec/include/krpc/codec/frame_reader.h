// FrameReader: the receive side of the frame codec (bytes in, frames out), and the MemoryBudget
// that bounds what all readers of a node may hold for frames not yet complete. No sockets.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string_view>
#include <utility>

#include "krpc/codec/frame.h"

namespace krpc::codec {

// Bytes of partly received frames that all readers sharing it may hold at once (a node-wide
// budget, so a hostile peer cannot make a node hold memory for bytes it only announced).
// Thread-safe.
class MemoryBudget {
 public:
  explicit MemoryBudget(size_t limit) : limit_(limit) {}
  bool TryCharge(size_t bytes);
  void Release(size_t bytes) { used_.fetch_sub(bytes, std::memory_order_relaxed); }
  size_t used() const { return used_.load(std::memory_order_relaxed); }
  size_t limit() const { return limit_; }

 private:
  const size_t limit_;
  std::atomic<size_t> used_{0};
};

// The receive side of a framed connection. A read goes into a per-thread scratch buffer when
// no frame is pending, so an idle connection holds no buffer at all; only the bytes of a frame
// that is not complete yet are kept, in a buffer of the connection's own that grows with the
// bytes actually received (at most twice them), never with the length a prefix announces.
// Owning-thread only (the scratch is per thread).
class FrameReader {
 public:
  using Clock = std::chrono::steady_clock;
  // `budget` (optional) is charged for the reader's own buffer.
  explicit FrameReader(Limits limits = {}, std::shared_ptr<MemoryBudget> budget = nullptr);
  ~FrameReader();
  FrameReader(const FrameReader&) = delete;
  FrameReader& operator=(const FrameReader&) = delete;

  enum class ReadStatus : uint8_t { kOk, kOverBudget };
  // Reads once: `read(char* data, size_t capacity)` returns the bytes it wrote (0 with its own
  // error set when nothing could be read). Call Next() until kNeedMore, then EndBatch().
  template <typename ReadFn>
  ReadStatus ReadSome(ReadFn&& read, size_t* n) {
    auto [data, capacity] = BeginRead();
    if (data == nullptr) return ReadStatus::kOverBudget;
    *n = read(data, capacity);
    end_ += *n;
    return ReadStatus::kOk;
  }
  // Copies bytes in (tests, fuzzers, callers with their own buffers); false when over budget.
  bool Feed(std::string_view bytes);

  // Next complete frame, kNeedMore, or an error. A returned frame's views stay valid until
  // EndBatch().
  DecodeResult Next();
  // Keeps the bytes of a partial frame (if any) and releases every buffer it no longer needs.
  // False when keeping them would exceed the budget.
  bool EndBatch();

  size_t buffered() const { return end_ - begin_; }
  std::string_view Buffered() const { return {base() + begin_, end_ - begin_}; }
  const Limits& limits() const { return limits_; }
  // Memory held between batches (0 when idle).
  size_t capacity() const { return own_capacity_; }
  // Since when a frame has been partly received (nullopt when no frame is pending).
  std::optional<Clock::time_point> partial_since() const { return partial_since_; }

 private:
  std::pair<char*, size_t> BeginRead();
  bool Grow(size_t writable);
  void FreeOwn();
  char* base() const { return in_scratch_ ? scratch_ : own_; }

  Limits limits_;
  std::shared_ptr<MemoryBudget> budget_;
  char* own_ = nullptr;  // malloc'd; a partial frame between batches
  size_t own_capacity_ = 0;
  char* scratch_ = nullptr;  // the thread's scratch while a batch reads from it
  bool in_scratch_ = false;
  size_t begin_ = 0;
  size_t end_ = 0;
  size_t pending_frame_size_ = 0;
  bool frame_done_in_batch_ = false;
  std::optional<Clock::time_point> partial_since_;
};

}  // namespace krpc::codec
