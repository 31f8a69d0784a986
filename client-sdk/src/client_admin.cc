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
      json::Object endpoint;
      endpoint.Add("service", e.service)
          .Add("address", e.address)
          .Add("state", ToString(e.state))
          .Add("breaker", ToString(e.breaker))
          .Add("stalled", e.stalled);
      e.ForEach([&](const EndpointStatView& v, auto value) { endpoint.Add(v.name, value); });
      endpoints.AddRaw(endpoint.str());
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
