#include "cli.h"

#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

namespace krpc::cli {
namespace {

void RegisterGroups(unsigned groups, Flags* f, OptionSet& o) {
  if (groups & kZk) {
    o.AddString("zk", &f->zk, "ZooKeeper hosts to list from (host:port,...)");
    o.AddString("root", &f->root, "registry root in ZooKeeper");
    o.AddInt("zk_session_timeout_ms", &f->zk_session_timeout_ms, 1000, 600000, "ZooKeeper session timeout");
  }
  if (groups & kTarget) {
    o.AddString("target", &f->target, "host:port, static://h1:p1,h2:p2 or zk://zk1:2181,zk2:2181/root");
    f->channel.Register(o);  // every channel key: deadline, load balancing, retries, hedging, TLS...
  }
  if (groups & kSchema) {
    o.AddBool("reflection", &f->reflection, "ask the target's reflection service for schemas (when no --proto)");
  }
  if (groups & kCallFlags) o.AddString("service", &f->service, "service name (health: empty = the whole node)");
  if (groups & kFormat) o.AddString("format", &f->format, "output: text or json (bench: text, json or csv)");
  if (groups & kBench) {
    o.AddInt("concurrency", &f->concurrency, 1, 100000, "closed loop: calls in flight (with --rate: at most this many)");
    o.AddDouble("rate", &f->rate, 0, 1e7, "open loop: start this many calls per second (0 = closed loop)");
    o.AddSeconds("duration", &f->duration_s, 0, 86400, "run this long: seconds, or 500ms, 10s, 2m (0: until --total)");
    o.AddInt("total", &f->total, int64_t{0}, int64_t{1000000000000}, "stop after this many calls (0: until --duration)");
    o.AddInt("connections", &f->connections, 1, 1024, "channels (each with its own connections)");
    o.AddChoice("progress", &f->progress, {"auto", "on", "off"}, "progress bar: auto (on a terminal), on, off");
  }
}

// An address as grpcurl and ghz users write it first: host:port ([v6]:port), static://... or
// zk://... (a method or symbol name has no ":port" end).
bool LooksLikeAddress(std::string_view a) {
  if (a.starts_with("static://") || a.starts_with("zk://")) return true;
  const auto colon = a.rfind(':');
  if (colon == std::string_view::npos || colon + 1 == a.size() || a.find('/') != std::string_view::npos) return false;
  return a.substr(colon + 1).find_first_not_of("0123456789") == std::string_view::npos;
}

std::string GroupHelp(unsigned groups) {
  std::string out;
  if (groups & kSchema) {
    out += "  --proto FILE (repeatable)\n      .proto file defining the service (else the target's reflection service,\n"
           "      else the services compiled into krpc)\n"
           "  -I DIR, --import_path DIR (repeatable)\n      where --proto files and their imports are found\n";
  }
  if (groups & kCallFlags) {
    out += "  -d JSON, --data JSON\n      request message as JSON; @FILE reads a file, - reads stdin\n"
           "  -H KEY:VALUE, --header KEY:VALUE (repeatable)\n      request metadata\n";
  }
  return out;
}

}  // namespace

bool Parse(const Command& cmd, int argc, char** argv, Flags* flags, std::vector<std::string>* args, int* exit) {
  OptionSet o;
  RegisterGroups(cmd.groups, flags, o);
  if (OptionSet::WantsHelp(argc, argv)) {
    std::printf("usage: krpc %s %s\n\n%s\n\nflags (also as KRPC_<KEY> environment variables or in -c FILE):\n%s%s",
                cmd.name, cmd.usage, cmd.summary, GroupHelp(cmd.groups).c_str(), o.Help().c_str());
    *exit = 0;
    return false;
  }
  // The repeatable flags, which OptionSet (one value per key) does not take.
  std::vector<const char*> rest{argv[0]};
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&](const std::string& name, std::string* out) {
      if (a == name) {
        if (i + 1 >= argc) return false;
        *out = argv[++i];
        return true;
      }
      if (a.rfind(name + "=", 0) == 0) {
        *out = a.substr(name.size() + 1);
        return true;
      }
      return false;
    };
    std::string v;
    if ((cmd.groups & kSchema) && (value("--proto", &v))) {
      flags->protos.push_back(v);
    } else if ((cmd.groups & kSchema) && (value("-I", &v) || value("--import_path", &v))) {
      flags->import_paths.push_back(v);
    } else if ((cmd.groups & kCallFlags) && (value("-d", &v) || value("--data", &v))) {
      flags->data = v;
    } else if ((cmd.groups & kCallFlags) && (value("-H", &v) || value("--header", &v))) {
      const auto colon = v.find(':');
      if (colon == std::string::npos || colon == 0) {
        std::fprintf(stderr, "krpc %s: bad header '%s' (want KEY:VALUE)\n", cmd.name, v.c_str());
        *exit = kExitUsage;
        return false;
      }
      std::string value_text = v.substr(colon + 1);
      while (!value_text.empty() && value_text.front() == ' ') value_text.erase(0, 1);
      flags->headers.emplace_back(v.substr(0, colon), value_text);
    } else if (a == "-d" || a == "-H" || a == "-I" || a == "--proto" || a == "--data" || a == "--header") {
      std::fprintf(stderr, "krpc %s: %s needs a value (see krpc %s --help)\n", cmd.name, a.c_str(), cmd.name);
      *exit = kExitUsage;
      return false;
    } else {
      rest.push_back(argv[i]);
    }
  }
  if (auto s = o.Load(static_cast<int>(rest.size()), rest.data(), OptionSet::ProcessEnv(), args); !s.ok()) {
    std::fprintf(stderr, "krpc %s: %s (see krpc %s --help)\n", cmd.name, s.message().c_str(), cmd.name);
    *exit = kExitUsage;
    return false;
  }
  // The address may come first without --target, as grpcurl takes it (`krpc list 127.0.0.1:7001`).
  if ((cmd.groups & kTarget) && flags->target.empty() && flags->zk.empty() && !args->empty() &&
      LooksLikeAddress(args->front())) {
    flags->target = args->front();
    args->erase(args->begin());
  }
  if ((cmd.groups & kFormat) && flags->format != "text" && flags->format != "json" &&
      !((cmd.groups & kBench) && flags->format == "csv")) {
    std::fprintf(stderr, "krpc %s: bad value for 'format': '%s'\n", cmd.name, flags->format.c_str());
    *exit = kExitUsage;
    return false;
  }
  return true;
}

std::shared_ptr<Channel> MakeChannel(const Flags& flags, const char* cmd) {
  if (flags.target.empty()) {
    std::fprintf(stderr, "krpc %s: --target is required (see krpc %s --help)\n", cmd, cmd);
    return nullptr;
  }
  auto ch = Channel::Create(flags.target, flags.channel);
  if (!ch.ok()) {
    std::fprintf(stderr, "krpc %s: %s\n", cmd, ch.status().ToString().c_str());
    return nullptr;
  }
  return ch.value();
}

StatusOr<std::string> RequestText(const std::string& data) {
  if (data.empty()) return std::string("{}");
  if (data == "-") return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  if (data[0] == '@') {
    std::ifstream in(data.substr(1), std::ios::binary);
    if (!in) return krpc::Status(StatusCode::kInvalidArgument, "cannot read request file '" + data.substr(1) + "'");
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  return data;
}

}  // namespace krpc::cli
