// The value parsers OptionSet's option builders share (config.cc, config_seconds.cc).
// Internal to common/.
#pragma once

#include <charconv>
#include <string>
#include <string_view>
#include <system_error>

#include "krpc/status.h"

namespace krpc::config_parse {

inline Status Bad(std::string_view msg) { return {StatusCode::kInvalidArgument, std::string(msg)}; }

// The whole of `text` as a number (from_chars: no sign for unsigned, no spaces, no suffix).
template <typename T>
bool ParseNumber(std::string_view text, T* out) {
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && p == text.data() + text.size();
}

}  // namespace krpc::config_parse
