// AuthzPolicy: which peers may call which services and methods (the core of Istio's
// AuthorizationPolicy, with allow rules only). Parsed once from `authz_allow`:
//
//   authz_allow = krpc.examples.EchoService=spiffe://krpc.local/client/*,spiffe://krpc.local/node/*;
//                 krpc.examples.UserService/DeleteUser=spiffe://krpc.local/admin
//
// A rule names a service, or one method of it (which then ignores the service's rule); its
// patterns match a verified peer identity (PeerIdentity::Matches: a URI or DNS SAN, or the
// subject CN; a trailing '*' is a prefix, "*" any authenticated peer). A method without a rule
// is open to every peer, plaintext ones included, unless `authz_default = deny`. The health
// services are always open (probes carry no secrets and must work before identities do).
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "krpc/peer_identity.h"
#include "krpc/status.h"
#include "method_table.h"

namespace krpc::node {

class AuthzPolicy {
 public:
  // Checks the syntax and that every named service and method is served; errors name the key.
  Status Parse(std::string_view spec, bool default_deny, const MethodTable& methods);
  // Points each method entry at the identities allowed to call it (null: anyone).
  void Apply(MethodTable& methods) const;
  bool empty() const { return rules_.empty() && !default_deny_; }

  static bool Allows(const MethodEntry& entry, const PeerIdentity& who) {
    if (entry.allowed == nullptr) return true;
    for (const auto& pattern : *entry.allowed) {
      if (who.Matches(pattern)) return true;
    }
    return false;
  }

 private:
  std::map<std::string, std::vector<std::string>, std::less<>> rules_;  // "pkg.Svc" or "pkg.Svc/Method"
  bool default_deny_ = false;
  const std::vector<std::string> nobody_;
};

}  // namespace krpc::node
