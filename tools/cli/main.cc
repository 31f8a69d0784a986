// krpc: the command-line tool, as handy as grpcurl and ghz together.
//   krpc list     services of a node (reflection) or of the registry (--zk, zk:// target)
//   krpc describe a service, method or message type, as proto text
//   krpc call     any method: request JSON in, response JSON out
//   krpc bench    load-test any method: progress bar, latency distribution, status codes
//   krpc health   krpc.health.v1.Health/Check
//   krpc status   the channel's view of the endpoints
// Targets: host:port, static://h1:p1,h2:p2, zk://hosts/root (the full resilience stack).
#include <cstdio>
#include <cstring>
#include <string>

#include "cli.h"
#include "krpc/log.h"

namespace {
using namespace krpc::cli;

const Command kCommands[] = {
    {"list", "List the services of a node (its reflection service), of the registry (--zk HOSTS or a\n"
             "zk:// target: services and their providers) or of --proto files.",
     "[ADDRESS | --target T | --zk HOSTS] [--proto FILE ...] [--format text|json]", List, kTarget | kZk | kSchema | kFormat},
    {"describe", "Describe a service, a method or a message type as proto text. Schemas come from --proto\n"
                 "files, else from the target's reflection service.",
     "ADDRESS | --target T | --proto FILE  SYMBOL", Describe, kTarget | kSchema},
    {"call", "Call any method. The request is JSON (an argument, -d JSON, -d @FILE or -d - for stdin);\n"
             "the response is printed as JSON. A streaming method takes its requests as JSON lines (stdin:\n"
             "each line sent as typed) and prints its responses as JSON lines, without a deadline. Message types come from --proto files, else from the\n"
             "target's reflection service, else from the services compiled into krpc. Exit code: 0, or\n"
             "64 + the gRPC status code of a failed call (UNAVAILABLE = 78); 2 for bad input.",
     "ADDRESS|--target T [--proto FILE -I DIR] [-H KEY:VALUE ...] [--rpc_timeout_ms MS] METHOD [JSON]", Call,
     kTarget | kSchema | kCallFlags | kFormat},
    {"bench", "Load-test any method with a JSON request template, like ghz: closed loop (--concurrency)\n"
              "or open loop (--rate), for --duration seconds or --total calls (default: 10 s); a progress\n"
              "bar on a terminal; then count, total time, fastest, slowest, average, calls/s,\n"
              "p10 ... p99.9, a latency histogram and the status code distribution.",
     "ADDRESS|--target T [-d JSON] [--concurrency N | --rate R] [--duration 10s | --total N]\n  [--format text|json|csv] METHOD",
     Bench, kTarget | kSchema | kCallFlags | kBench | kFormat},
    {"health", "Ask a node's health service (krpc.health.v1.Health/Check); exit 0 when SERVING.",
     "ADDRESS|--target T [SERVICE]", Health, kTarget | kCallFlags},
    {"status", "Show a channel's view of the endpoints of a target (state, breaker, weight, latency).",
     "ADDRESS|--target T [SERVICE]", Status, kTarget | kCallFlags},
};

int TopHelp(FILE* out) {
  std::fprintf(out, "usage: krpc COMMAND [flags]   (krpc COMMAND --help for its flags)\n\ncommands:\n");
  for (const auto& c : kCommands) {
    std::string first(c.summary);
    first = first.substr(0, first.find('\n'));
    std::fprintf(out, "  %-9s %s\n", c.name, first.c_str());
  }
  std::fprintf(out, "\ntargets (--target, or the first argument): host:port, static://h1:p1,h2:p2,\n"
                   "  zk://zk1:2181,zk2:2181/krpc\n");
  return out == stdout ? 0 : kExitUsage;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return TopHelp(stderr);
  const std::string name = argv[1];
  if (name == "-h" || name == "--help" || name == "help") return TopHelp(stdout);
  for (const auto& c : kCommands) {
    if (name != c.name) continue;
    krpc::log::LogOptions lo;
    lo.level = "warn";
    lo.async = false;
    (void)krpc::log::Setup(lo);
    Flags flags;
    std::vector<std::string> args;
    int exit = 0;
    if (!Parse(c, argc - 1, argv + 1, &flags, &args, &exit)) return exit;
    return c.run(flags, args);
  }
  std::fprintf(stderr, "krpc: unknown command '%s'\n\n", name.c_str());
  return TopHelp(stderr);
}
