// Endpoint: a host and a port, parsed from and printed as "host:port" ("[v6]:port" for IPv6).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "krpc/status.h"

namespace krpc {

struct Endpoint {
  std::string host;
  uint16_t port = 0;

  std::string ToString() const;
  friend bool operator==(const Endpoint&, const Endpoint&) = default;
  friend auto operator<=>(const Endpoint&, const Endpoint&) = default;
};

StatusOr<Endpoint> ParseEndpoint(std::string_view text);
// "h1:p1,h2:p2" -> endpoints; an empty list is an error.
StatusOr<std::vector<Endpoint>> ParseEndpointList(std::string_view text);

}  // namespace krpc
