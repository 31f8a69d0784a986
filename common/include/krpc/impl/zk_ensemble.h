// The ZooKeeper ensemble string, resolved to addresses by us rather than by the C client.
//
// The ZooKeeper C client (3.8) cannot connect at all when one name in its host list does not
// resolve, and it re-resolves the list on reconnects: a ZooKeeper server whose DNS name is gone
// (a killed container, a decommissioned host) would cut every client off the whole ensemble.
// ZkClient therefore hands the C client address literals of the names that resolve now, and
// re-resolves them periodically (zoo_set_servers when the set changes).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace krpc {

struct ResolvedEnsemble {
  std::string hosts;                    // "10.0.0.2:2181,10.0.0.3:2181"; empty when nothing resolved
  std::vector<std::string> unresolved;  // "zk1:2181 (Name or service not known)" per name that did not
};

// `hosts` is "h1:p1,h2:p2" (as validated by ZkOptions). IPv4 addresses are preferred; a name
// with only IPv6 addresses is given as "[addr]:port". The output is sorted, so equal sets
// compare equal.
ResolvedEnsemble ResolveEnsemble(std::string_view hosts);

}  // namespace krpc
