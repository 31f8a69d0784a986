// AdminServer: a small HTTP/1.1 server (Boost.Beast) on its own port and its own thread, for
// /metrics, /healthz, /readyz, /status and, when enabled, /admin/fault. Bounded request size
// and time, keep-alive; a malformed request gets 400 and its connection is closed. It shares
// nothing with the RPC path, so abuse of this port never slows RPCs.
//
// Security: with a token file, every path under /admin/ (the mutating endpoints) requires
// "Authorization: Bearer <token>" (401 otherwise); /metrics, /healthz, /readyz and /status
// stay open for scrapers and probes. With a certificate and key it serves HTTPS instead of
// HTTP (rotated like the RPC port's: files re-read when they change).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "krpc/status.h"

namespace krpc {

class OptionSet;

struct AdminOptions {
  std::string host = "0.0.0.0";
  uint16_t port = 0;                  // 0 = pick a free port
  bool enabled = true;
  uint32_t max_body_bytes = 64 * 1024;
  int request_timeout_ms = 10000;     // whole request, and each keep-alive wait
  std::string token_file;             // admin_token_file: bearer token required on /admin/* (empty: none)
  std::string tls_cert_file;          // admin_tls_cert_file: serve HTTPS with this certificate...
  std::string tls_key_file;           // admin_tls_key_file: ...and key
  // admin_host, admin_port, admin_enabled, admin_token_file, admin_tls_cert_file, admin_tls_key_file
  void Register(OptionSet& options);
};

struct HttpRequest {
  std::string method;   // "GET", "POST", ...
  std::string path;     // without the query string
  std::string query;
  std::string body;
  std::string authorization;  // the Authorization header
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

class AdminServer {
 public:
  using Handler = std::function<HttpResponse(const HttpRequest&)>;

  explicit AdminServer(AdminOptions options);
  ~AdminServer();  // Stop()

  // Routes by exact method and path; call before Start(). Unknown paths answer 404, a known
  // path with another method 405.
  void Handle(std::string method, std::string path, Handler handler);
  // Runs `task` on the admin thread every `period` from Start() to Stop() (the console's
  // sampler); call before Start(). Handlers and tasks never run concurrently.
  void Every(std::chrono::milliseconds period, std::function<void()> task);
  Status Start();
  void Stop();
  uint16_t port() const;
  uint64_t bad_requests() const;
  uint64_t unauthorized() const;  // /admin/* requests refused for a missing or wrong token

  struct Impl;  // defined in admin_server.cc

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace krpc
