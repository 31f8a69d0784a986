// The krpc frame codec: bytes in, frames out. No sockets, no threads.
//
// A frame on the wire (all integers big-endian):
//
//   offset  size  field
//   0       4     magic "KRPC"
//   4       1     version (1)
//   5       1     type (FrameType)
//   6       2     flags (reserved, sent as 0, ignored on receipt)
//   8       4     frame_len: bytes after this 16-byte prefix (header + body)
//   12      4     header_len: bytes of the protobuf header; body_len = frame_len - header_len
//   16      ...   header (krpc.wire.*Header), then body (the request/response message)
//
// See docs/protocol.md for the full description.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace google::protobuf {
class MessageLite;
}

namespace krpc::codec {

inline constexpr char kMagic[4] = {'K', 'R', 'P', 'C'};
inline constexpr uint8_t kVersion = 1;
inline constexpr size_t kPrefixSize = 16;
inline constexpr uint32_t kMaxHeaderBytes = 64 * 1024;
inline constexpr uint32_t kDefaultMaxBodyBytes = 4u << 20;
inline constexpr uint32_t kHardMaxBodyBytes = 64u << 20;

enum class FrameType : uint8_t {
  kRequest = 1,
  kResponse = 2,
  kPing = 3,
  kPong = 4,
  kGoaway = 5,
  kCancel = 6,
};
std::string_view ToString(FrameType type);

// Limits a decoder enforces before it allocates anything for a frame.
struct Limits {
  uint32_t max_header_bytes = kMaxHeaderBytes;
  uint32_t max_body_bytes = kDefaultMaxBodyBytes;
};

enum class DecodeError : uint8_t {
  kNone = 0,
  kBadMagic,
  kBadVersion,
  kBadType,
  kHeaderTooLarge,
  kBodyTooLarge,
  kHeaderExceedsFrame,
};
// A short stable name ("bad_magic", "body_too_large", ...) used in logs and metric labels.
std::string_view ToString(DecodeError error);

struct FramePrefix {
  uint8_t version = 0;
  FrameType type = FrameType::kRequest;
  uint16_t flags = 0;
  uint32_t header_len = 0;
  uint32_t body_len = 0;
};

// A decoded frame. The views point into the decoder's input and stay valid
// until the input buffer is next modified.
struct FrameView {
  FramePrefix prefix;
  std::string_view header;
  std::string_view body;
};

enum class DecodeStatus : uint8_t { kNeedMore, kFrame, kError };

struct DecodeResult {
  DecodeStatus status = DecodeStatus::kNeedMore;
  DecodeError error = DecodeError::kNone;
  FrameView frame;       // set when status == kFrame
  FramePrefix prefix;    // set once the prefix was readable (also on kBodyTooLarge)
  size_t consumed = 0;   // bytes of the frame, when status == kFrame
  size_t needed = 0;     // total bytes the current frame needs, once known (kNeedMore)
};

// Decodes the first frame at the start of `input`. Stateless and allocation-free.
DecodeResult DecodeFrame(std::string_view input, const Limits& limits);

// Parses a prefix without validating limits (used for error reporting).
FramePrefix PeekPrefix(std::string_view input);

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

// Appends one frame to `out`, serializing header and body straight into it.
void AppendFrame(std::vector<char>& out, FrameType type, const google::protobuf::MessageLite& header,
                 const google::protobuf::MessageLite* body);

// Appends a frame with an already serialized body (used for error replies and tests).
void AppendRawFrame(std::vector<char>& out, FrameType type, std::string_view header,
                    std::string_view body, uint8_t version = kVersion);

}  // namespace krpc::codec
