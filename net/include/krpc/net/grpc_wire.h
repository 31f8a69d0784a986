// gRPC over HTTP/2, the parts that are not HTTP/2: the 5-byte message prefix, grpc-timeout,
// grpc-message percent-encoding, which headers are reserved (never custom metadata), binary
// metadata and gzip. Pure functions, no sockets (both the node's gRPC connection and the SDK's
// gRPC transport use them, and the fuzzer reaches them). See docs/protocol.md "gRPC".
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "krpc/status.h"

namespace google::protobuf {
class MessageLite;
}

namespace krpc::net::grpc {

// The first bytes an HTTP/2 client sends (RFC 9113 3.4); a krpc connection starts "KRPC".
inline constexpr std::string_view kClientPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
inline constexpr size_t kMessagePrefix = 5;

// Appends the prefix of one uncompressed message of `length` bytes.
void AppendMessagePrefix(std::string& out, uint32_t length);
// The prefix and `message` serialized: a unary request or response body. `size` is
// message.ByteSizeLong(), already computed by the caller (it checked it against its limit).
std::string FramedMessage(const google::protobuf::MessageLite& message, size_t size);

// The one message of a unary request or response body (prefix + message). `max_bytes` bounds
// the message (after decompression). Errors: no message or a truncated one (INTERNAL), more
// than one (UNIMPLEMENTED: streaming), compressed with an encoding other than gzip
// (UNIMPLEMENTED), too large (RESOURCE_EXHAUSTED). `encoding` is the grpc-encoding header.
// On success `*view` is the message: inside `body`, or inside `*out` when it was inflated.
Status ExtractUnaryMessage(std::string_view body, std::string_view encoding, size_t max_bytes, std::string* out,
                           std::string_view* view);

// The size (prefix included) of the first message in `bytes` of a stream, or 0 while it has
// not all arrived. Checked on the prefix alone: bad flags (INTERNAL), a message over
// `max_bytes` (RESOURCE_EXHAUSTED). ExtractUnaryMessage then decodes the message.
Status FirstMessageSize(std::string_view bytes, size_t max_bytes, size_t* size);

// One direction of a gRPC stream, cut into messages as its DATA arrives, with the flow-control
// rule both the node and the SDK follow (docs/protocol.md "Streams"): the bytes of whole
// messages go back to the sender's window when the application reads them; the bytes of the
// message still arriving go back at once while no whole message waits to be read (so a
// message larger than the window passes), else when the reader catches up (TakeHeld). Every
// received byte goes back exactly once.
class MessageCutter {
 public:
  struct Message {
    std::string payload;  // decoded (inflated) message
    size_t wire_bytes;    // prefix + message as received
    size_t window_bytes;  // of those, the ones still to be returned to the window when read
  };
  // Appends `data`. `reader_idle`: no whole message waits to be read. Whole messages go to
  // `out` (even when an error follows them); `*window_now` is what goes back to the window at
  // once. An error (bad framing, too large, an unknown encoding) ends the stream.
  Status Add(std::string_view data, bool reader_idle, std::string_view encoding, size_t max_bytes,
             std::vector<Message>* out, size_t* window_now);
  // The reader caught up: the bytes of the message still arriving not yet returned go back.
  size_t TakeHeld();
  // Bytes of a message not whole yet.
  size_t buffered() const { return buf_.size(); }
  // Drops what is buffered; returns the bytes still held from the window.
  size_t Clear();

 private:
  std::string buf_;      // the message still arriving
  size_t returned_ = 0;  // bytes of buf_ already returned to the window
};

// grpc-timeout: "<1-8 digits><unit>" with unit H, M, S, m, u or n. nullopt when malformed.
std::optional<std::chrono::microseconds> ParseTimeout(std::string_view value);
// The shortest exact-enough grpc-timeout for `t` (rounded up to the unit it uses).
std::string FormatTimeout(std::chrono::microseconds t);

// grpc-message is percent-encoded UTF-8 (bytes outside 0x20-0x7e and '%').
std::string PercentEncode(std::string_view text);
std::string PercentDecode(std::string_view text);

// Headers that are HTTP/2 or gRPC protocol, not custom metadata: pseudo-headers (":path"),
// content-type, te, user-agent, and every "grpc-" header.
bool IsReservedHeader(std::string_view name);
// "-bin" metadata travels base64-encoded (padding optional on receipt).
inline bool IsBinaryHeader(std::string_view name) { return name.ends_with("-bin"); }
std::string Base64Encode(std::string_view bytes);
// A metadata value as it goes in a header: base64 for a "-bin" key, as it is otherwise.
inline std::string HeaderValue(std::string_view key, const std::string& value) {
  return IsBinaryHeader(key) ? Base64Encode(value) : value;
}
std::optional<std::string> Base64Decode(std::string_view text);

// The gRPC status for an HTTP status when a response carries no grpc-status (gRPC's
// "HTTP to gRPC status code mapping").
StatusCode StatusFromHttp(int http_status);

}  // namespace krpc::net::grpc
