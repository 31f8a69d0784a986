// CheckOverload: the admission steps that protect a node from more work than it can finish in
// time, after a call's method and authorization are known: early refusal (its remaining
// deadline is below its method's median handler time, so it could not finish in time), then
// the node's adaptive limit (max_inflight=auto), then its method's limit (method_max_inflight).
// A call admitted holds the slots the verdict names until CallHost releases them.
#pragma once

#include <chrono>
#include <string>

#include "method_table.h"
#include "server_shared.h"

namespace krpc::node {

struct OverloadVerdict {
  enum Kind { kAdmitted, kTooLate, kOverloaded } kind = kAdmitted;
  bool node_slot = false;    // holds a slot of shared.node_limit
  bool method_slot = false;  // holds a slot of entry.load->limit
  std::string why;           // the refusal's message
};

// The refusal message of the fixed max_inflight.
std::string MaxInflightRefusal(const ServerShared& shared);
// Whether the node's or the method's limits are full now, without taking a slot (a call's
// headers are screened before its body arrives): the refusal's message, or empty.
std::string AtLimit(const ServerShared& shared, const MethodEntry& entry);

// Thread-safe (atomics and the limits' own locks).
OverloadVerdict CheckOverload(ServerShared& shared, const MethodEntry& entry,
                              std::chrono::steady_clock::time_point deadline, std::chrono::steady_clock::time_point now);

}  // namespace krpc::node
