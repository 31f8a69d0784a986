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
// See docs/protocol.md for the full description. The receive side (FrameReader, the node's
// MemoryBudget) is in frame_reader.h.
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
// Response metadata of a refusal for overload: milliseconds the client waits before retrying
// the call anywhere ("-1": do not retry). gRPC's equivalent is the grpc-retry-pushback-ms trailer.
inline constexpr std::string_view kRetryPushbackKey = "krpc-retry-pushback-ms";
inline constexpr uint32_t kDefaultMaxBodyBytes = 4u << 20;
inline constexpr uint32_t kHardMaxBodyBytes = 64u << 20;

enum class FrameType : uint8_t {
  kRequest = 1,
  kResponse = 2,
  kPing = 3,
  kPong = 4,
  kGoaway = 5,
  kCancel = 6,
  kStreamAccept = 7,  // streams (docs/protocol.md "Streams on the krpc wire")
  kMessage = 8,
  kCredit = 9,
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

// Appends one frame to `out`, serializing header and body straight into it.
void AppendFrame(std::vector<char>& out, FrameType type, const google::protobuf::MessageLite& header,
                 const google::protobuf::MessageLite* body);

// Appends one frame whose body is already serialized (a stream's MESSAGE).
void AppendFrame(std::vector<char>& out, FrameType type, const google::protobuf::MessageLite& header,
                 std::string_view body);
// Appends a frame with an already serialized body (used for error replies and tests).
void AppendRawFrame(std::vector<char>& out, FrameType type, std::string_view header,
                    std::string_view body, uint8_t version = kVersion);

}  // namespace krpc::codec
