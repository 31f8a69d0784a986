// ALPN names in their wire form, shared by the server's selection (tls_context.cc) and the
// client's offer (tls_peer.cc). Internal to net/.
#pragma once

#include <string>
#include <vector>

namespace krpc::net {

// Length-prefixed names, as ALPN sends them.
inline std::string AlpnWire(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) {
    out.push_back(static_cast<char>(n.size()));
    out += n;
  }
  return out;
}

}  // namespace krpc::net
