// The web console: one page on an admin port, served by the binary itself, with live charts
// (uPlot, vendored and embedded) of the process's calls/s, error rate and p50/p99 per method,
// connections, in-flight calls and bytes/s, and the tables of its /status: a node's services
// and registry view, a client's endpoints with breaker state, ejections, pool connections,
// latency estimate, retries and hedges.
//
// Routes: "/" (the page), "/console/console.js", "/console/uplot.js", "/console/uplot.css",
// "/console/series" (JSON: the last `history` samples). The samples are taken on the admin
// thread every `interval_ms` from the same metrics /metrics serves, and kept in a ring in the
// process: the console works with no Prometheus at all.
#pragma once

#include <string>

namespace krpc {

class AdminServer;
class Metrics;

struct ConsoleOptions {
  std::string title = "krpc";  // the page's heading, e.g. "krpc-node node1"
  int interval_ms = 1000;
  int history = 300;           // samples kept: 5 minutes at 1 s
};

// Installs the console's routes and its sampler on `admin` (before admin.Start()). `metrics`
// must outlive the admin server.
void InstallConsole(AdminServer& admin, Metrics& metrics, ConsoleOptions options);

}  // namespace krpc
