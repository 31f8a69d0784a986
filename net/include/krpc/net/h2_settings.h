// The vocabulary of H2Connection: HTTP/2 error codes, header lists, and the settings a
// connection announces. Internal header.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace krpc::net {

// HTTP/2 error codes (RFC 9113 section 7) the connections send or act on.
namespace h2_error {
inline constexpr uint32_t kNoError = 0x0;
inline constexpr uint32_t kRefusedStream = 0x7;
inline constexpr uint32_t kCancel = 0x8;
inline constexpr uint32_t kEnhanceYourCalm = 0xb;
inline constexpr uint32_t kInadequateSecurity = 0xc;
}  // namespace h2_error

using Header = std::pair<std::string, std::string>;
using Headers = std::vector<Header>;

struct H2Settings {
  uint32_t max_concurrent_streams = 1000;   // what we accept from the peer
  uint32_t initial_window_size = 1u << 20;  // per stream
  uint32_t connection_window_size = 16u << 20;
  uint32_t max_header_list_size = 64u << 10;
  // The application returns received DATA to the flow-control windows itself (Consume), when
  // it has used it, instead of nghttp2 doing so on arrival: a reader that stops reading shuts
  // the peer's window.
  bool manual_window = false;
};

}  // namespace krpc::net
