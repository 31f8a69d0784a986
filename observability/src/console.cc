#include "krpc/console.h"

#include <chrono>
#include <memory>
#include <mutex>
#include <string_view>

#include "console_sampler.h"
#include "krpc/admin_server.h"
#include "krpc/json.h"
#include "krpc/metrics.h"

namespace krpc {
namespace embedded {  // cmake/krpcEmbed.cmake, from observability/console/
extern const std::string_view ConsoleHtml;
extern const std::string_view ConsoleJs;
extern const std::string_view UplotJs;
extern const std::string_view UplotCss;
}  // namespace embedded

namespace {
HttpResponse Asset(std::string_view body, const char* type) { return HttpResponse{200, type, std::string(body)}; }

std::string Page(const std::string& title) {
  std::string html(embedded::ConsoleHtml);
  const std::string marker = "{{TITLE}}";
  std::string escaped;
  for (char c : title) {
    switch (c) {
      case '<': escaped += "&lt;"; break;
      case '>': escaped += "&gt;"; break;
      case '&': escaped += "&amp;"; break;
      case '"': escaped += "&quot;"; break;
      default: escaped += c;
    }
  }
  for (auto at = html.find(marker); at != std::string::npos; at = html.find(marker, at + escaped.size())) {
    html.replace(at, marker.size(), escaped);
  }
  return html;
}
}  // namespace

void InstallConsole(AdminServer& admin, Metrics& metrics, ConsoleOptions options) {
  struct State {
    std::mutex mu;
    ConsoleSampler sampler;
    explicit State(size_t history) : sampler(history) {}
  };
  auto state = std::make_shared<State>(static_cast<size_t>(std::max(2, options.history)));
  const int interval_ms = std::max(100, options.interval_ms);
  const std::string page = Page(options.title);
  admin.Handle("GET", "/", [page](const HttpRequest&) { return HttpResponse{200, "text/html; charset=utf-8", page}; });
  admin.Handle("GET", "/console/console.js",
               [](const HttpRequest&) { return Asset(embedded::ConsoleJs, "text/javascript; charset=utf-8"); });
  admin.Handle("GET", "/console/uplot.js",
               [](const HttpRequest&) { return Asset(embedded::UplotJs, "text/javascript; charset=utf-8"); });
  admin.Handle("GET", "/console/uplot.css",
               [](const HttpRequest&) { return Asset(embedded::UplotCss, "text/css; charset=utf-8"); });
  admin.Handle("GET", "/console/series", [state, interval_ms](const HttpRequest&) {
    std::lock_guard lock(state->mu);
    return HttpResponse{200, "application/json", state->sampler.Json(interval_ms) + "\n"};
  });
  auto sample = [state, &metrics] {
    auto families = metrics.Collect();
    const double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    std::lock_guard lock(state->mu);
    state->sampler.Sample(families, now);
  };
  admin.Every(std::chrono::milliseconds(interval_ms), sample);
}

}  // namespace krpc
