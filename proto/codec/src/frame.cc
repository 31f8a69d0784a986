#include "krpc/codec/frame.h"

#include <google/protobuf/message_lite.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

namespace krpc::codec {
namespace {

uint16_t LoadBe16(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return static_cast<uint16_t>((u[0] << 8) | u[1]);
}

uint32_t LoadBe32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return (uint32_t{u[0]} << 24) | (uint32_t{u[1]} << 16) | (uint32_t{u[2]} << 8) | uint32_t{u[3]};
}

void StoreBe32(char* p, uint32_t v) {
  p[0] = static_cast<char>(v >> 24);
  p[1] = static_cast<char>(v >> 16);
  p[2] = static_cast<char>(v >> 8);
  p[3] = static_cast<char>(v);
}

bool KnownType(uint8_t t) {
  return t >= static_cast<uint8_t>(FrameType::kRequest) && t <= static_cast<uint8_t>(FrameType::kCancel);
}

char* WritePrefix(std::vector<char>& out, FrameType type, size_t header_len, size_t body_len,
                  uint8_t version) {
  const size_t at = out.size();
  out.resize(at + kPrefixSize + header_len + body_len);
  char* p = out.data() + at;
  std::memcpy(p, kMagic, 4);
  p[4] = static_cast<char>(version);
  p[5] = static_cast<char>(type);
  p[6] = 0;
  p[7] = 0;
  StoreBe32(p + 8, static_cast<uint32_t>(header_len + body_len));
  StoreBe32(p + 12, static_cast<uint32_t>(header_len));
  return p + kPrefixSize;
}

DecodeResult Error(DecodeError e, const FramePrefix& prefix) {
  DecodeResult r;
  r.status = DecodeStatus::kError;
  r.error = e;
  r.prefix = prefix;
  return r;
}

}  // namespace

std::string_view ToString(FrameType type) {
  switch (type) {
    case FrameType::kRequest: return "REQUEST";
    case FrameType::kResponse: return "RESPONSE";
    case FrameType::kPing: return "PING";
    case FrameType::kPong: return "PONG";
    case FrameType::kGoaway: return "GOAWAY";
    case FrameType::kCancel: return "CANCEL";
  }
  return "UNKNOWN";
}

std::string_view ToString(DecodeError error) {
  switch (error) {
    case DecodeError::kNone: return "none";
    case DecodeError::kBadMagic: return "bad_magic";
    case DecodeError::kBadVersion: return "bad_version";
    case DecodeError::kBadType: return "bad_type";
    case DecodeError::kHeaderTooLarge: return "header_too_large";
    case DecodeError::kBodyTooLarge: return "body_too_large";
    case DecodeError::kHeaderExceedsFrame: return "header_exceeds_frame";
  }
  return "unknown";
}

FramePrefix PeekPrefix(std::string_view in) {
  FramePrefix p;
  if (in.size() < kPrefixSize) return p;
  p.version = static_cast<uint8_t>(in[4]);
  p.type = static_cast<FrameType>(static_cast<uint8_t>(in[5]));
  p.flags = LoadBe16(in.data() + 6);
  const uint32_t frame_len = LoadBe32(in.data() + 8);
  p.header_len = LoadBe32(in.data() + 12);
  p.body_len = p.header_len <= frame_len ? frame_len - p.header_len : 0;
  return p;
}

DecodeResult DecodeFrame(std::string_view in, const Limits& limits) {
  DecodeResult r;
  // Reject a bad magic as early as its first bytes arrive, so garbage never waits for more input.
  const size_t magic_seen = std::min<size_t>(in.size(), 4);
  if (std::memcmp(in.data(), kMagic, magic_seen) != 0) return Error(DecodeError::kBadMagic, {});
  if (in.size() < kPrefixSize) {
    r.needed = kPrefixSize;
    return r;
  }
  const FramePrefix p = PeekPrefix(in);
  if (p.version != kVersion) return Error(DecodeError::kBadVersion, p);
  if (!KnownType(static_cast<uint8_t>(in[5]))) return Error(DecodeError::kBadType, p);
  const uint32_t frame_len = LoadBe32(in.data() + 8);
  if (p.header_len > frame_len) return Error(DecodeError::kHeaderExceedsFrame, p);
  if (p.header_len > limits.max_header_bytes) return Error(DecodeError::kHeaderTooLarge, p);
  if (p.body_len > limits.max_body_bytes) return Error(DecodeError::kBodyTooLarge, p);
  const size_t total = kPrefixSize + size_t{frame_len};
  r.prefix = p;
  if (in.size() < total) {
    r.needed = total;
    return r;
  }
  r.status = DecodeStatus::kFrame;
  r.consumed = total;
  r.frame.prefix = p;
  r.frame.header = in.substr(kPrefixSize, p.header_len);
  r.frame.body = in.substr(kPrefixSize + p.header_len, p.body_len);
  return r;
}

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

void AppendFrame(std::vector<char>& out, FrameType type, const google::protobuf::MessageLite& header,
                 const google::protobuf::MessageLite* body) {
  const size_t header_len = header.ByteSizeLong();
  const size_t body_len = body ? body->ByteSizeLong() : 0;
  char* p = WritePrefix(out, type, header_len, body_len, kVersion);
  header.SerializeWithCachedSizesToArray(reinterpret_cast<uint8_t*>(p));
  if (body) body->SerializeWithCachedSizesToArray(reinterpret_cast<uint8_t*>(p + header_len));
}

void AppendRawFrame(std::vector<char>& out, FrameType type, std::string_view header,
                    std::string_view body, uint8_t version) {
  char* p = WritePrefix(out, type, header.size(), body.size(), version);
  std::memcpy(p, header.data(), header.size());
  if (!body.empty()) std::memcpy(p + header.size(), body.data(), body.size());
}

}  // namespace krpc::codec
