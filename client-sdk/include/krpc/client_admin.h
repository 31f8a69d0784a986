// Admin endpoints for a client process (load generator, krpc-bench): /metrics, /healthz,
// /readyz and /status (JSON: every channel's endpoints with breaker and pool state).
#pragma once

#include <memory>
#include <string>

#include "krpc/admin_server.h"
#include "krpc/metrics.h"

namespace krpc {

class ClientRuntime;

// JSON of every channel of `runtime`: target, stats, endpoints.
std::string ClientStatusJson(ClientRuntime& runtime);

// An AdminServer with the client routes: /metrics, /healthz, /readyz, /status (the channels and
// their endpoints) and the web console at "/" (krpc/console.h) headed `title`.
std::unique_ptr<AdminServer> MakeClientAdmin(AdminOptions options, Metrics& metrics,
                                             std::shared_ptr<ClientRuntime> runtime,
                                             std::string title = "krpc client");

}  // namespace krpc
