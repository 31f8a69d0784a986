#include "krpc/endpoint.h"

#include <charconv>

namespace krpc {

std::string Endpoint::ToString() const {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

StatusOr<Endpoint> ParseEndpoint(std::string_view text) {
  auto bad = [&](const char* why) {
    return Status(StatusCode::kInvalidArgument, "bad endpoint '" + std::string(text) + "': " + why);
  };
  Endpoint ep;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return bad("expected [v6-address]:port");
    ep.host = std::string(text.substr(1, close - 1));
    port = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return bad("expected host:port");
    ep.host = std::string(text.substr(0, colon));
    port = text.substr(colon + 1);
  }
  if (ep.host.empty()) return bad("empty host");
  unsigned value = 0;
  auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (ec != std::errc() || p != port.data() + port.size() || value == 0 || value > 65535)
    return bad("port must be 1-65535");
  ep.port = static_cast<uint16_t>(value);
  return ep;
}

StatusOr<std::vector<Endpoint>> ParseEndpointList(std::string_view text) {
  std::vector<Endpoint> out;
  while (!text.empty()) {
    const auto comma = text.find(',');
    auto one = ParseEndpoint(text.substr(0, comma));
    if (!one.ok()) return one.status();
    out.push_back(std::move(one.value()));
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  if (out.empty()) return Status(StatusCode::kInvalidArgument, "empty endpoint list");
  return out;
}

}  // namespace krpc
