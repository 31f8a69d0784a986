// krpc call, krpc health, krpc status.
#include <google/protobuf/util/json_util.h>

#include <cstdio>

#include "cli.h"
#include "krpc/controller.h"
#include "krpc/health.pb.h"
#include "krpc/json.h"
#include "schema.h"

namespace krpc::cli {
namespace gp = google::protobuf;

namespace {
// Where to ask for `service`'s schema: the channel itself, or, for a zk:// target (where only
// application services are registered, not every node's reflection service), a direct channel
// to one of the service's providers.
StatusOr<std::shared_ptr<Channel>> ReflectionChannel(const Flags& flags, Channel* channel, std::string service) {
  std::shared_ptr<Channel> none(channel, [](Channel*) {});
  if (flags.target.rfind("zk://", 0) != 0) return none;
  if (!service.empty() && service[0] == '/') service.erase(0, 1);
  service = service.substr(0, service.find('/'));  // "pkg.Service/Method": the service
  if (auto s = channel->WaitForEndpoints(service, std::chrono::milliseconds(flags.channel.timeout_ms)); !s.ok()) return s;
  for (const auto& e : channel->Endpoints()) {
    if (e.service != service) continue;
    ChannelOptions direct = flags.channel;
    auto ch = Channel::Create(e.address, direct);
    if (!ch.ok()) return ch.status();
    return ch.value();
  }
  return krpc::Status(StatusCode::kUnavailable, "no providers known for " + service);
}
}  // namespace

StatusOr<std::unique_ptr<Schema>> LoadSchema(const Flags& flags, Channel* channel, const std::string& symbol) {
  if (!flags.protos.empty()) return Schema::FromProtoFiles(flags.protos, flags.import_paths);
  if (channel && flags.reflection) {
    auto where = ReflectionChannel(flags, channel, symbol);
    if (!where.ok()) return where.status();
    auto s = Schema::FromReflection(**where, symbol);
    if (s.ok()) return s;
    const auto code = s.status().code();
    // No reflection service there (or reflection=false on the node): the compiled-in services.
    if (code != StatusCode::kUnimplemented && code != StatusCode::kNotFound) return s.status();
  }
  return Schema::Compiled();
}

std::optional<PreparedCall> FindCall(const Flags& flags, Channel& channel, const std::string& name, const char* cmd,
                                     int* exit) {
  std::string service, method_name;
  (void)SplitMethodName(name, &service, &method_name);  // checked by the command
  auto schema = LoadSchema(flags, &channel, service);
  if (!schema.ok()) {
    std::fprintf(stderr, "krpc %s: %s\n", cmd, schema.status().ToString().c_str());
    *exit = schema.status().code() == StatusCode::kInvalidArgument ? kExitUsage : ExitFor(schema.status().code());
    return std::nullopt;
  }
  PreparedCall p;
  p.schema = std::move(schema).value();
  p.method = p.schema->FindMethod(name);
  if (!p.method) {
    std::fprintf(stderr, "krpc %s: unknown method '%s' (schemas from %s%s)\n", cmd, name.c_str(), p.schema->source(),
                 flags.protos.empty() ? "; give --proto FILE for a service the target does not describe" : "");
    *exit = kExitUsage;
    return std::nullopt;
  }
  p.request.reset(p.schema->NewMessage(p.method->input_type()));
  return p;
}

bool ParseRequest(PreparedCall& p, const std::string& text, const char* cmd) {
  if (auto st = gp::util::JsonStringToMessage(text, p.request.get()); !st.ok()) {
    std::fprintf(stderr, "krpc %s: bad request JSON for %s: %s\n", cmd, p.method->input_type()->full_name().c_str(),
                 st.ToString().c_str());
    return false;
  }
  return true;
}

std::optional<PreparedCall> PrepareCall(const Flags& flags, Channel& channel, const std::string& name,
                                        const std::string& text, const char* cmd, int* exit) {
  auto p = FindCall(flags, channel, name, cmd, exit);
  if (p && !ParseRequest(*p, text, cmd)) {
    *exit = kExitUsage;
    return std::nullopt;
  }
  return p;
}

int Call(Flags& flags, const std::vector<std::string>& args) {
  if (args.size() < 1 || args.size() > 2) {
    std::fprintf(stderr, "krpc call: give one METHOD, e.g. pkg.Service/Method (see krpc call --help)\n");
    return kExitUsage;
  }
  const std::string& name = args[0];
  std::string service, method_name;
  if (!SplitMethodName(name, &service, &method_name)) {
    std::fprintf(stderr, "krpc call: '%s' is not a method name (want pkg.Service/Method)\n", name.c_str());
    return kExitUsage;
  }
  const std::string data = args.size() == 2 ? args[1] : flags.data;
  auto channel = MakeChannel(flags, "call");
  if (!channel) return kExitUsage;
  int exit = 0;
  auto call = FindCall(flags, *channel, name, "call", &exit);
  if (!call) return exit;
  // A client-streaming method's requests are lines, read by CallStream as they come.
  if (call->method->client_streaming()) return CallStream(flags, *channel, *call, data);
  auto text = RequestText(data);
  if (!text.ok()) {
    std::fprintf(stderr, "krpc call: %s\n", text.status().message().c_str());
    return kExitUsage;
  }
  if (!ParseRequest(*call, *text, "call")) return kExitUsage;
  if (call->method->server_streaming()) return CallStream(flags, *channel, *call, data);
  std::unique_ptr<gp::Message> resp(call->schema->NewMessage(call->method->output_type()));
  Controller cntl;
  for (const auto& [k, v] : flags.headers) cntl.AddMetadata(k, v);
  channel->CallMethod(call->method, &cntl, call->request.get(), resp.get(), nullptr);
  if (cntl.Failed()) {
    if (flags.format == "json") {
      std::printf("{\"code\":\"%s\",\"message\":%s}\n", std::string(StatusCodeName(cntl.code())).c_str(),
                  json::Quote(cntl.status().message()).c_str());
    }
    std::fprintf(stderr, "%s%s%s\n", cntl.ErrorText().c_str(), cntl.remote().empty() ? "" : " (from ",
                 cntl.remote().empty() ? "" : (cntl.remote() + ")").c_str());
    return ExitFor(cntl.code());
  }
  if (flags.format == "text") {  // response metadata first, on stderr (stdout stays pure JSON)
    for (const auto& [k, v] : cntl.response_metadata()) std::fprintf(stderr, "< %s: %s\n", k.c_str(), v.c_str());
  }
  std::string out;
  gp::util::JsonPrintOptions jo;
  jo.always_print_primitive_fields = true;
  jo.add_whitespace = flags.format != "json";  // text: indented; json: one line
  (void)gp::util::MessageToJsonString(*resp, &out, jo);
  if (!out.empty() && out.back() == '\n') out.pop_back();
  std::printf("%s\n", out.c_str());
  return 0;
}

int Health(Flags& flags, const std::vector<std::string>& args) {
  if (!args.empty() && flags.service.empty()) flags.service = args[0];
  auto ch = MakeChannel(flags, "health");
  if (!ch) return kExitUsage;
  krpc::health::v1::Health_Stub stub(ch.get());
  krpc::health::v1::HealthCheckRequest req;
  req.set_service(flags.service);
  krpc::health::v1::HealthCheckResponse resp;
  Controller cntl;
  stub.Check(&cntl, &req, &resp, nullptr);
  if (cntl.Failed()) {
    std::fprintf(stderr, "%s\n", cntl.ErrorText().c_str());
    return ExitFor(cntl.code());
  }
  std::printf("%s %s\n", cntl.remote().c_str(),
              krpc::health::v1::HealthCheckResponse::ServingStatus_Name(resp.status()).c_str());
  return resp.status() == krpc::health::v1::HealthCheckResponse::SERVING ? 0 : kExitOther;
}

int Status(Flags& flags, const std::vector<std::string>& args) {
  if (!args.empty() && flags.service.empty()) flags.service = args[0];
  auto ch = MakeChannel(flags, "status");
  if (!ch) return kExitUsage;
  if (!flags.service.empty()) {
    if (auto s = ch->WaitForEndpoints(flags.service, std::chrono::milliseconds(flags.channel.timeout_ms)); !s.ok()) {
      std::fprintf(stderr, "%s\n", s.ToString().c_str());
      return ExitFor(s.code());
    }
  }
  // Endpoints connect lazily: a fresh channel shows them "idle" until calls flow. For a
  // long-running process's live view, open its admin port's console.
  std::printf("%-30s %-22s %-10s %-9s %-6s %-9s %-8s %s\n", "SERVICE", "ENDPOINT", "STATE", "BREAKER", "WEIGHT",
              "EWMA_US", "CONNECTS", "FAILURES");
  for (const auto& e : ch->Endpoints()) {
    std::printf("%-30s %-22s %-10s %-9s %-6d %-9.0f %-8llu %llu\n", e.service.empty() ? "*" : e.service.c_str(),
                e.address.c_str(), std::string(ToString(e.state)).c_str(), std::string(ToString(e.breaker)).c_str(),
                e.weight, e.latency_ewma_us, static_cast<unsigned long long>(e.connects),
                static_cast<unsigned long long>(e.connect_failures));
  }
  return 0;
}

}  // namespace krpc::cli
