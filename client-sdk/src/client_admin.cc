#include "krpc/client_admin.h"

#include "krpc/channel.h"
#include "krpc/client_runtime.h"
#include "krpc/console.h"
#include "krpc/json.h"

namespace krpc {

std::string ClientStatusJson(ClientRuntime& runtime) {
  json::Array channels;
  for (const auto& ch : runtime.Channels()) {
    json::Array endpoints;
    for (const auto& e : ch->Endpoints()) {
      endpoints.AddRaw(json::Object()
                                                          .Add("service", e.service)
                                                          .Add("address", e.address)
                                                          .Add("state", ToString(e.state))
                                                          .Add("breaker", ToString(e.breaker))
                                                          .Add("breaker_transitions", e.breaker_transitions)
                                                          .Add("weight", e.weight)
                                                          .Add("latency_ewma_us", e.latency_ewma_us)
                                                          .Add("inflight", e.inflight)
                                                          .Add("connections_active", e.connections_active)
                                                          .Add("connections_idle", e.connections_idle)
                                                          .Add("connects", e.connects)
                                                          .Add("connect_failures", e.connect_failures)
                                                          .Add("reuses", e.reuses)
                                                          .Add("stalled", e.stalled)
                                                          .Add("stalls", e.stalls)
                                                          .Add("latency_ejections", e.latency_ejections)
                                                          .Add("slow_start", e.slow_start)
                                                          .str());
    }
    json::Object channel;
    channel.Add("target", ch->target());
    ch->stats().ForEach([&](std::string_view name, uint64_t value) { channel.Add(name, value); });
    channels.AddRaw(channel.AddRaw("endpoints", endpoints.str()).str());
  }
  return json::Object().AddRaw("channels", channels.str()).str() + "\n";
}

std::unique_ptr<AdminServer> MakeClientAdmin(AdminOptions options, Metrics& metrics,
                                             std::shared_ptr<ClientRuntime> runtime, std::string title) {
  auto admin = std::make_unique<AdminServer>(std::move(options));
  admin->Handle("GET", "/metrics", [&metrics](const HttpRequest&) {
    return HttpResponse{200, "text/plain; version=0.0.4; charset=utf-8", metrics.Serialize()};
  });
  admin->Handle("GET", "/healthz", [](const HttpRequest&) { return HttpResponse{200, "text/plain; charset=utf-8", "ok\n"}; });
  admin->Handle("GET", "/readyz", [](const HttpRequest&) { return HttpResponse{200, "text/plain; charset=utf-8", "ready\n"}; });
  std::weak_ptr<ClientRuntime> weak = runtime;
  admin->Handle("GET", "/status", [weak](const HttpRequest&) {
    auto rt = weak.lock();
    return HttpResponse{200, "application/json", rt ? ClientStatusJson(*rt) : "{}\n"};
  });
  ConsoleOptions console;
  console.title = std::move(title);
  InstallConsole(*admin, metrics, console);
  return admin;
}

}  // namespace krpc
