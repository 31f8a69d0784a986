#include "krpc/status.h"

#include <array>
#include <charconv>

namespace krpc {
namespace {
constexpr std::array<std::string_view, 17> kNames = {
    "OK",        "CANCELLED",          "UNKNOWN",             "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
    "NOT_FOUND", "ALREADY_EXISTS",     "PERMISSION_DENIED",   "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",             "ABORTED",             "OUT_OF_RANGE",    "UNIMPLEMENTED",
    "INTERNAL",  "UNAVAILABLE",        "DATA_LOSS",           "UNAUTHENTICATED"};
}  // namespace

std::string_view StatusCodeName(StatusCode code) {
  const auto i = static_cast<size_t>(code);
  return i < kNames.size() ? kNames[i] : "UNKNOWN";
}

StatusCode StatusCodeFromInt(int32_t value) {
  return value >= 0 && value < static_cast<int32_t>(kNames.size()) ? static_cast<StatusCode>(value)
                                                                     : StatusCode::kUnknown;
}

bool ParseStatusCode(std::string_view text, StatusCode* out) {
  for (size_t i = 0; i < kNames.size(); ++i) {
    if (kNames[i] == text) {
      *out = static_cast<StatusCode>(i);
      return true;
    }
  }
  int v = -1;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size() || v < 0 || v >= int(kNames.size())) return false;
  *out = static_cast<StatusCode>(v);
  return true;
}

std::string Status::ToString() const {
  std::string s(StatusCodeName(code_));
  if (!message_.empty()) s.append(": ").append(message_);
  return s;
}

std::ostream& operator<<(std::ostream& os, const Status& s) { return os << s.ToString(); }
std::ostream& operator<<(std::ostream& os, StatusCode c) { return os << StatusCodeName(c); }

}  // namespace krpc
