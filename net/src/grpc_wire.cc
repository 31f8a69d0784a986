#include "krpc/net/grpc_wire.h"

#include <google/protobuf/message_lite.h>
#include <zlib.h>

#include <array>
#include <cstring>

namespace krpc::net::grpc {

void AppendMessagePrefix(std::string& out, uint32_t length) {
  const char prefix[kMessagePrefix] = {0, static_cast<char>(length >> 24), static_cast<char>(length >> 16),
                                       static_cast<char>(length >> 8), static_cast<char>(length)};
  out.append(prefix, kMessagePrefix);
}

std::string FramedMessage(const google::protobuf::MessageLite& message, size_t size) {
  std::string body;
  body.reserve(kMessagePrefix + size);
  AppendMessagePrefix(body, static_cast<uint32_t>(size));
  body.resize(kMessagePrefix + size);
  message.SerializeWithCachedSizesToArray(reinterpret_cast<uint8_t*>(body.data() + kMessagePrefix));
  return body;
}

namespace {

// gzip (RFC 1952) into `out`, at most `max_bytes`; false when corrupt or too large.
Status Gunzip(std::string_view in, size_t max_bytes, std::string* out) {
  z_stream z{};
  if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) return {StatusCode::kInternal, "cannot start gzip decoder"};
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  std::array<char, 16384> chunk;
  out->clear();
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    z.next_out = reinterpret_cast<Bytef*>(chunk.data());
    z.avail_out = chunk.size();
    rc = inflate(&z, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) {
      inflateEnd(&z);
      return {StatusCode::kInternal, "corrupt gzip message"};
    }
    const size_t produced = chunk.size() - z.avail_out;
    if (out->size() + produced > max_bytes) {
      inflateEnd(&z);
      return {StatusCode::kResourceExhausted, "decompressed message exceeds " + std::to_string(max_bytes) + " bytes"};
    }
    out->append(chunk.data(), produced);
    if (rc == Z_OK && produced == 0 && z.avail_in == 0) {
      inflateEnd(&z);
      return {StatusCode::kInternal, "truncated gzip message"};
    }
  }
  inflateEnd(&z);
  return Status::Ok();
}

}  // namespace

Status ExtractUnaryMessage(std::string_view body, std::string_view encoding, size_t max_bytes, std::string* out,
                           std::string_view* view) {
  if (body.size() < kMessagePrefix) {
    return {StatusCode::kInternal, body.empty() ? "no message in the body" : "truncated message prefix"};
  }
  const auto* p = reinterpret_cast<const unsigned char*>(body.data());
  const bool compressed = p[0] != 0;
  const uint32_t length = (uint32_t{p[1]} << 24) | (uint32_t{p[2]} << 16) | (uint32_t{p[3]} << 8) | p[4];
  if (p[0] > 1) return {StatusCode::kInternal, "invalid message flags"};
  if (length > max_bytes) {
    return {StatusCode::kResourceExhausted,
            "message of " + std::to_string(length) + " bytes exceeds the limit of " + std::to_string(max_bytes)};
  }
  if (body.size() - kMessagePrefix < length) return {StatusCode::kInternal, "truncated message"};
  if (body.size() - kMessagePrefix > length) {
    return {StatusCode::kUnimplemented, "more than one message: streaming calls are not supported"};
  }
  const std::string_view message = body.substr(kMessagePrefix, length);
  if (!compressed) {
    *view = message;
    return Status::Ok();
  }
  if (encoding != "gzip") {
    return {StatusCode::kUnimplemented,
            "compressed message with unsupported grpc-encoding '" + std::string(encoding) + "' (supported: gzip)"};
  }
  Status st = Gunzip(message, max_bytes, out);
  if (st.ok()) *view = *out;
  return st;
}

Status FirstMessageSize(std::string_view bytes, size_t max_bytes, size_t* size) {
  *size = 0;
  if (bytes.size() < kMessagePrefix) return Status::Ok();
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  if (p[0] > 1) return {StatusCode::kInternal, "invalid message flags"};
  const uint32_t length = (uint32_t{p[1]} << 24) | (uint32_t{p[2]} << 16) | (uint32_t{p[3]} << 8) | p[4];
  if (length > max_bytes) {
    return {StatusCode::kResourceExhausted,
            "message of " + std::to_string(length) + " bytes exceeds the limit of " + std::to_string(max_bytes)};
  }
  if (bytes.size() - kMessagePrefix >= length) *size = kMessagePrefix + length;
  return Status::Ok();
}

Status MessageCutter::Add(std::string_view data, bool reader_idle, std::string_view encoding, size_t max_bytes,
                          std::vector<Message>* out, size_t* window_now) {
  buf_.append(data);
  const size_t before = out->size();
  size_t off = 0;
  Status st;
  for (;;) {
    const std::string_view rest = std::string_view(buf_).substr(off);
    size_t size = 0;
    st = FirstMessageSize(rest, max_bytes, &size);
    if (!st.ok() || size == 0) break;
    std::string inflated;
    std::string_view message;
    st = ExtractUnaryMessage(rest.substr(0, size), encoding, max_bytes, &inflated, &message);
    if (!st.ok()) break;
    const size_t already = std::min(size, returned_);  // the part returned while it arrived
    returned_ -= already;
    off += size;
    out->push_back({inflated.empty() ? std::string(message) : std::move(inflated), size, size - already});
  }
  buf_.erase(0, off);
  // The message still arriving goes back at once only while nothing waits to be read.
  *window_now = reader_idle && out->size() == before ? TakeHeld() : 0;
  return st;
}

size_t MessageCutter::TakeHeld() {
  const size_t n = buf_.size() - returned_;
  returned_ = buf_.size();
  return n;
}

size_t MessageCutter::Clear() {
  const size_t n = buf_.size() - returned_;
  std::string().swap(buf_);
  returned_ = 0;
  return n;
}

std::optional<std::chrono::microseconds> ParseTimeout(std::string_view v) {
  if (v.size() < 2 || v.size() > 9) return std::nullopt;
  uint64_t n = 0;
  for (char c : v.substr(0, v.size() - 1)) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  using std::chrono::microseconds;
  switch (v.back()) {
    case 'H': return microseconds(n * 3600'000'000ull);
    case 'M': return microseconds(n * 60'000'000ull);
    case 'S': return microseconds(n * 1'000'000ull);
    case 'm': return microseconds(n * 1'000ull);
    case 'u': return microseconds(n);
    case 'n': return microseconds((n + 999) / 1000);
    default: return std::nullopt;
  }
}

std::string FormatTimeout(std::chrono::microseconds t) {
  uint64_t us = t.count() > 0 ? static_cast<uint64_t>(t.count()) : 0;
  // At most 8 digits: pick the finest unit that fits, rounding up.
  struct Unit { uint64_t us; char c; };
  constexpr Unit units[] = {{1, 'u'}, {1000, 'm'}, {1'000'000, 'S'}, {60'000'000, 'M'}, {3600'000'000ull, 'H'}};
  for (const auto& u : units) {
    const uint64_t n = (us + u.us - 1) / u.us;
    if (n < 100'000'000) return std::to_string(n) + u.c;
  }
  return "99999999H";
}

std::string PercentEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if (c >= 0x20 && c <= 0x7e && c != '%') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

namespace {
int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

std::string PercentDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && HexValue(text[i + 1]) >= 0 && HexValue(text[i + 2]) >= 0) {
      out.push_back(static_cast<char>(HexValue(text[i + 1]) * 16 + HexValue(text[i + 2])));
      i += 2;
    } else {
      out.push_back(text[i]);  // a malformed escape is kept as it is, as gRPC does
    }
  }
  return out;
}

bool IsReservedHeader(std::string_view name) {
  return name.empty() || name[0] == ':' || name.starts_with("grpc-") || name == "content-type" || name == "te" ||
         name == "user-agent" || name == "content-length" || name == "connection" || name == "host";
}

namespace {
constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
int B64Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+' || c == '-') return 62;
  if (c == '/' || c == '_') return 63;
  return -1;
}
}  // namespace

std::string Base64Encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  auto b = [&](size_t k) { return static_cast<uint32_t>(static_cast<unsigned char>(bytes[k])); };
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t v = b(i) << 16 | b(i + 1) << 8 | b(i + 2);
    for (int s = 18; s >= 0; s -= 6) out.push_back(kB64[(v >> s) & 63]);
  }
  if (const size_t rest = bytes.size() - i; rest > 0) {
    const uint32_t v = b(i) << 16 | (rest == 2 ? b(i + 1) << 8 : 0);
    out.push_back(kB64[(v >> 18) & 63]);
    out.push_back(kB64[(v >> 12) & 63]);
    out.push_back(rest == 2 ? kB64[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

std::optional<std::string> Base64Decode(std::string_view text) {
  while (!text.empty() && text.back() == '=') text.remove_suffix(1);
  if (text.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(text.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    const int v = B64Value(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return out;
}

StatusCode StatusFromHttp(int http_status) {
  switch (http_status) {
    case 400: return StatusCode::kInternal;
    case 401: return StatusCode::kUnauthenticated;
    case 403: return StatusCode::kPermissionDenied;
    case 404: return StatusCode::kUnimplemented;
    case 429: case 502: case 503: case 504: return StatusCode::kUnavailable;
    default: return StatusCode::kUnknown;
  }
}

}  // namespace krpc::net::grpc
