#include "krpc/codec/frame_reader.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

namespace krpc::codec {

bool MemoryBudget::TryCharge(size_t bytes) {
  size_t cur = used_.load(std::memory_order_relaxed);
  do {
    if (cur + bytes > limit_) return false;
  } while (!used_.compare_exchange_weak(cur, cur + bytes, std::memory_order_relaxed));
  return true;
}

namespace {
constexpr size_t kScratchBytes = 64 * 1024;
constexpr size_t kMinGrowth = 4 * 1024;

// One read buffer per thread, shared by every connection that thread serves.
struct Scratch {
  std::unique_ptr<char[]> data{new char[kScratchBytes]};
  bool in_use = false;
};
Scratch& ThreadScratch() {
  static thread_local Scratch scratch;
  return scratch;
}
}  // namespace

FrameReader::FrameReader(Limits limits, std::shared_ptr<MemoryBudget> budget)
    : limits_(limits), budget_(std::move(budget)) {}

FrameReader::~FrameReader() {
  if (in_scratch_) ThreadScratch().in_use = false;
  FreeOwn();
}

void FrameReader::FreeOwn() {
  if (own_ == nullptr) return;
  std::free(own_);
  if (budget_) budget_->Release(own_capacity_);
  own_ = nullptr;
  own_capacity_ = 0;
}

// Makes room for `writable` more bytes after end_ in the own buffer, charging the budget.
bool FrameReader::Grow(size_t writable) {
  if (begin_ > 0) {  // reclaim consumed space first
    std::memmove(own_, own_ + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  if (own_capacity_ - end_ >= writable) return true;
  const size_t want = end_ + writable;
  if (budget_ && !budget_->TryCharge(want - own_capacity_)) return false;
  char* grown = static_cast<char*>(std::realloc(own_, want));
  if (grown == nullptr) {
    if (budget_) budget_->Release(want - own_capacity_);
    return false;
  }
  own_ = grown;
  own_capacity_ = want;
  return true;
}

std::pair<char*, size_t> FrameReader::BeginRead() {
  frame_done_in_batch_ = false;
  if (begin_ == end_) {
    begin_ = end_ = 0;
    FreeOwn();
    Scratch& scratch = ThreadScratch();
    if (!scratch.in_use) {
      scratch.in_use = true;
      in_scratch_ = true;
      scratch_ = scratch.data.get();
      return {scratch_, kScratchBytes};
    }
  }
  // A frame is pending: read into the own buffer, growing it at most to twice what arrived,
  // capped by what the pending frame still needs.
  size_t want = std::max(kMinGrowth, buffered());
  if (pending_frame_size_ > buffered()) want = std::min(want, pending_frame_size_ - buffered());
  if (own_capacity_ - end_ >= kMinGrowth && begin_ == 0) want = own_capacity_ - end_;
  if (!Grow(want)) return {nullptr, 0};
  return {own_ + end_, own_capacity_ - end_};
}

bool FrameReader::Feed(std::string_view bytes) {
  while (!bytes.empty()) {
    size_t n = 0;
    if (ReadSome([&](char* p, size_t cap) {
          const size_t k = std::min(cap, bytes.size());
          std::memcpy(p, bytes.data(), k);
          return k;
        }, &n) != ReadStatus::kOk) {
      return false;
    }
    bytes.remove_prefix(n);
    // Keep what is not decoded yet in the own buffer, so the next chunk appends to it.
    if (in_scratch_ && !EndBatch()) return false;
  }
  return true;
}

DecodeResult FrameReader::Next() {
  if (begin_ == end_) return {};
  DecodeResult r = DecodeFrame(Buffered(), limits_);
  if (r.status == DecodeStatus::kFrame) {
    begin_ += r.consumed;
    pending_frame_size_ = 0;
    frame_done_in_batch_ = true;
  } else if (r.status == DecodeStatus::kNeedMore) {
    pending_frame_size_ = r.needed;
  }
  return r;
}

bool FrameReader::EndBatch() {
  const size_t left = buffered();
  if (left == 0) {
    begin_ = end_ = 0;
    FreeOwn();
    partial_since_.reset();
  } else if (frame_done_in_batch_ || !partial_since_) {
    partial_since_ = Clock::now();  // a new frame started
  }
  if (in_scratch_) {
    const char* from = scratch_ + begin_;
    in_scratch_ = false;
    scratch_ = nullptr;
    ThreadScratch().in_use = false;
    begin_ = end_ = 0;
    if (left > 0) {
      if (!Grow(std::max(left, kMinGrowth))) return false;
      std::memcpy(own_, from, left);
      end_ = left;
    }
  } else if (left > 0 && begin_ > 0) {
    std::memmove(own_, own_ + begin_, left);
    begin_ = 0;
    end_ = left;
  }
  frame_done_in_batch_ = false;
  return true;
}

}  // namespace krpc::codec
