// The krpc CLI's shared pieces: its flags, argument parsing with --help on every subcommand,
// channels, and the exit-code convention.
//
// Exit codes: 0 success; 2 bad usage or input (unknown flag or method, malformed JSON,
// unreadable file); 64 + the gRPC status code when a call fails (UNAVAILABLE = 78,
// DEADLINE_EXCEEDED = 68, ...), as grpcurl does; 1 anything else (ZooKeeper unreachable).
#pragma once

#include <cstdint>
#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "krpc/channel.h"
#include "krpc/config.h"
#include "krpc/status.h"

namespace krpc::cli {

constexpr int kExitUsage = 2;
constexpr int kExitOther = 1;
inline int ExitFor(StatusCode code) { return code == StatusCode::kOk ? 0 : 64 + static_cast<int>(code); }

// Every subcommand's flags (each registers what it reads; see Register).
struct Flags {
  std::string zk;                  // list: ZooKeeper hosts
  std::string root = "/krpc";
  std::string target;              // host:port, static://h1:p1,h2:p2, zk://hosts/root
  std::string service;
  std::string format = "text";     // text | json (| csv for bench)
  std::string data;                // -d: request JSON, @file, or - (stdin)
  std::vector<std::string> protos;        // --proto (repeatable)
  std::vector<std::string> import_paths;  // -I / --import_path (repeatable)
  std::vector<std::pair<std::string, std::string>> headers;  // -H key:value (repeatable)
  int zk_session_timeout_ms = 10000;  // list --zk
  bool reflection = true;          // ask the target's reflection service for schemas
  // bench
  int concurrency = 16;
  double rate = 0;                 // open loop: calls/s (0 = closed loop)
  double duration_s = 0;
  int64_t total = 0;
  int connections = 1;
  std::string progress = "auto";   // auto | on | off
  // Every channel key of docs/configuration.md (rpc_timeout_ms is the deadline, 10 s by
  // default here; load balancer, retries, hedging, breakers, TLS...): the full resilience stack.
  ChannelOptions channel;
  Flags() { channel.timeout_ms = 10000; }
};

// A subcommand: its name, one-line summary, usage text and which flag groups it takes.
struct Command {
  const char* name;
  const char* summary;
  const char* usage;   // after "krpc NAME "
  int (*run)(Flags&, const std::vector<std::string>& args);
  unsigned groups;     // bit set of the groups below
};
enum Group : unsigned { kTarget = 1, kZk = 2, kSchema = 4, kCallFlags = 8, kBench = 16, kFormat = 32 };

// Parses argv (after the subcommand) into `flags` and positional `args`: the repeatable -H,
// --proto, -I and -d first, then everything else through OptionSet (--key=value, --key value,
// KRPC_* environment, -c FILE). Prints the subcommand's help for -h/--help (returns 0 through
// *exit). Returns false with *exit set when the command must stop.
bool Parse(const Command& cmd, int argc, char** argv, Flags* flags, std::vector<std::string>* args, int* exit);

// The channel to --target with the CLI's channel settings; prints the error and returns null.
std::shared_ptr<Channel> MakeChannel(const Flags& flags, const char* cmd);

// Reads -d: inline JSON, "@path" (a file) or "-" (stdin). Empty: "{}".
StatusOr<std::string> RequestText(const std::string& data);

class Schema;
// The schema for `symbol` (a service or method): --proto files when given; else the target's
// reflection service (unless --reflection=false; a target without one falls back to the
// compiled-in services); else the compiled-in services. An error other than "no reflection
// service" (an unreachable target, a TLS refusal) is returned as it is.
StatusOr<std::unique_ptr<Schema>> LoadSchema(const Flags& flags, Channel* channel, const std::string& symbol);

// What call and bench need to send METHOD `name`: its schema (LoadSchema), the method, and the
// request parsed from JSON `text`. On failure prints why ("krpc CMD: ...") and sets *exit.
struct PreparedCall {
  std::unique_ptr<Schema> schema;
  const google::protobuf::MethodDescriptor* method = nullptr;
  std::unique_ptr<google::protobuf::Message> request;
};
// The method `name` and its schema (request not parsed), or nullopt with the error printed.
std::optional<PreparedCall> FindCall(const Flags& flags, Channel& channel, const std::string& name, const char* cmd,
                                     int* exit);
// `text` (JSON) into p.request; false with the error printed.
bool ParseRequest(PreparedCall& p, const std::string& text, const char* cmd);
// FindCall, then ParseRequest(text).
std::optional<PreparedCall> PrepareCall(const Flags& flags, Channel& channel, const std::string& name,
                                        const std::string& text, const char* cmd, int* exit);
// krpc call on a streaming method (call_stream.cc): requests and responses as JSON lines.
// `data` is the request argument: JSON, @FILE, or - (stdin, read line by line as typed).
int CallStream(const Flags& flags, Channel& channel, PreparedCall& call, const std::string& data);

// Subcommands.
int List(Flags& flags, const std::vector<std::string>& args);
int Describe(Flags& flags, const std::vector<std::string>& args);
int Call(Flags& flags, const std::vector<std::string>& args);
int Health(Flags& flags, const std::vector<std::string>& args);
int Status(Flags& flags, const std::vector<std::string>& args);
int Bench(Flags& flags, const std::vector<std::string>& args);

}  // namespace krpc::cli
