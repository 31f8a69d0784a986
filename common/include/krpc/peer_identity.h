// PeerIdentity: who is on the other end of a connection, as its verified TLS certificate says.
// A plaintext peer, or a TLS peer that sent no certificate, is unauthenticated.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace krpc {

struct PeerIdentity {
  bool authenticated = false;        // a certificate was sent and verified against the CA
  std::string subject;               // the certificate's subject, RFC 2253 ("CN=alice,O=example")
  std::vector<std::string> names;    // URI SANs (spiffe://...), DNS SANs, then the subject CN

  // True when one of the names equals `pattern`, or starts with its prefix when the pattern
  // ends with '*' ("spiffe://krpc.local/client/*"); "*" matches any authenticated peer.
  bool Matches(std::string_view pattern) const {
    if (!authenticated) return false;
    if (pattern == "*") return true;
    const bool prefix = !pattern.empty() && pattern.back() == '*';
    if (prefix) pattern.remove_suffix(1);
    for (const auto& n : names) {
      if (prefix ? std::string_view(n).starts_with(pattern) : n == pattern) return true;
    }
    return false;
  }
  // The first name (the URI SAN when there is one), or "" when unauthenticated.
  std::string_view primary() const { return authenticated && !names.empty() ? std::string_view(names[0]) : ""; }
};

}  // namespace krpc
