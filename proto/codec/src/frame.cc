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
  return t >= static_cast<uint8_t>(FrameType::kRequest) && t <= static_cast<uint8_t>(FrameType::kCredit);
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
    case FrameType::kStreamAccept: return "STREAM_ACCEPT";
    case FrameType::kMessage: return "MESSAGE";
    case FrameType::kCredit: return "CREDIT";
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

void AppendFrame(std::vector<char>& out, FrameType type, const google::protobuf::MessageLite& header,
                 const google::protobuf::MessageLite* body) {
  const size_t header_len = header.ByteSizeLong();
  const size_t body_len = body ? body->ByteSizeLong() : 0;
  char* p = WritePrefix(out, type, header_len, body_len, kVersion);
  header.SerializeWithCachedSizesToArray(reinterpret_cast<uint8_t*>(p));
  if (body) body->SerializeWithCachedSizesToArray(reinterpret_cast<uint8_t*>(p + header_len));
}

void AppendFrame(std::vector<char>& out, FrameType type, const google::protobuf::MessageLite& header,
                 std::string_view body) {
  const size_t header_len = header.ByteSizeLong();
  char* p = WritePrefix(out, type, header_len, body.size(), kVersion);
  header.SerializeWithCachedSizesToArray(reinterpret_cast<uint8_t*>(p));
  if (!body.empty()) std::memcpy(p + header_len, body.data(), body.size());
}

void AppendRawFrame(std::vector<char>& out, FrameType type, std::string_view header,
                    std::string_view body, uint8_t version) {
  char* p = WritePrefix(out, type, header.size(), body.size(), version);
  std::memcpy(p, header.data(), header.size());
  if (!body.empty()) std::memcpy(p + header.size(), body.data(), body.size());
}

}  // namespace krpc::codec
