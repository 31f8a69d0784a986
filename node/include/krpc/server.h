// Server: hosts protobuf services (`option cc_generic_services = true`) over the krpc framed
// protocol and gRPC on one port, in plaintext or TLS. N I/O threads, each owning its connections; handlers run on the connection's
// thread (or on a worker pool when `handler_threads` > 0) and may finish later from any thread
// by running `done`.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "krpc/net/tls_options.h"
#include "krpc/server_stats.h"
#include "krpc/status.h"

namespace google::protobuf {
class Service;
}

namespace krpc {

class OptionSet;
class ServerController;

// Methods that no authz_allow rule names: open to every peer (kAllow) or refused (kDeny).
enum class AuthzDefault { kAllow, kDeny };
inline constexpr EnumName<AuthzDefault> kAuthzDefaultNames[] = {{"allow", AuthzDefault::kAllow},
                                                                {"deny", AuthzDefault::kDeny}};

// The adaptive concurrency limit (max_inflight=auto, or auto in method_max_inflight): see
// docs/configuration.md "Overload".
struct AdaptiveLimitOptions {
  int initial = 20;              // auto_limit_initial: the limit before any measurement
  int min = 2;                   // auto_limit_min
  int max = 10000;               // auto_limit_max
  double tolerance = 1.25;       // auto_limit_tolerance: latency allowed over the no-load latency
  int window_ms = 100;           // auto_limit_window_ms: how often the limit is recomputed
  int probe_interval_ms = 30000; // auto_limit_probe_interval_ms: no-load latency re-measured this often

  void Register(OptionSet& options);  // the auto_limit_* keys
};

struct ServerOptions {
  std::string listen_host = "0.0.0.0";
  uint16_t port = 0;                       // 0 = pick a free port (see Server::port())
  int io_threads = 0;                      // 0 = one per core
  int handler_threads = 0;                 // 0 = run handlers on the I/O thread
  uint32_t max_body_bytes = 4u << 20;      // per frame; hard cap 64 MiB
  int max_connections = 10000;
  int max_inflight = 100000;               // calls being handled at once, server-wide
  bool max_inflight_auto = false;          // max_inflight=auto: an adaptive limit instead
  // Per-method limits on top: "/pkg.Svc/Method=N|auto,..." (method_max_inflight).
  std::string method_max_inflight;
  AdaptiveLimitOptions auto_limit;
  // Refuse a call at once (DEADLINE_EXCEEDED, not executed) when its remaining deadline is below
  // its method's median handler time: it could not finish in time (early_refusal).
  bool early_refusal = true;
  // The retry pushback a refusal for overload carries (krpc-retry-pushback-ms on krpc,
  // grpc-retry-pushback-ms on gRPC): clients retry no sooner; -1 tells them not to retry.
  int overload_pushback_ms = 50;
  bool reflection = true;                  // serve krpc.reflection.v1.Reflection (schemas)
  int heartbeat_interval_ms = 5000;        // idle connections are closed after
  int heartbeat_miss_limit = 3;            //   interval * (miss_limit + 1) without traffic
  int drain_timeout_ms = 10000;            // how long Shutdown() waits for in-flight calls
  int frame_timeout_ms = 10000;            // a frame once begun must be complete within this
  int64_t max_pending_frame_bytes = 512ll << 20;  // memory for partly received frames, node-wide
  // Replies beyond this many unsent bytes on a connection wait unencoded until a write makes
  // room; one whose call is cancelled or expired meanwhile is not sent (its body never is).
  uint32_t max_write_queue_bytes = 1u << 20;
  TlsMode tls_mode = TlsMode::kDisabled;             // tls_mode: disabled, permissive or strict
  TlsClientAuth tls_client_auth = TlsClientAuth::kNone;  // tls_client_auth: none, request or require
  TlsOptions tls;                          // tls_cert_file, tls_key_file, tls_ca_file, ...
  // Who may call what: "pkg.Svc[/Method]=identity,...;..." (see docs/configuration.md).
  std::string authz_allow;
  AuthzDefault authz_default = AuthzDefault::kAllow;  // authz_default: allow, or deny (no rule: refuse all)

  // Registers every field above under its own name (listen_host, port, ...).
  void Register(OptionSet& options);
};

// Hooks for metrics and fault injection. Called on I/O threads; must be thread-safe and cheap.
class ServerObserver {
 public:
  virtual ~ServerObserver() = default;
  // Once per method and protocol ("krpc", "grpc") at Start() (and for "unknown"/"unknown");
  // the returned cookie is passed back with every call of that method over that protocol, so
  // no per-call lookup is needed.
  virtual void* OnMethodRegistered(std::string_view service, std::string_view method, std::string_view protocol) {
    return nullptr;
  }
  virtual void OnConnectionOpened() {}
  virtual void OnConnectionClosed(std::string_view reason) {}
  // reason: a DecodeError name ("bad_magic", ...), "malformed_header", "unexpected_frame",
  // "frame_timeout", "memory_budget", "http2" or "stream_credit".
  virtual void OnFrameError(std::string_view reason) {}
  virtual void OnBytes(size_t received, size_t sent) {}
  // A call arrived / was answered (cookie from OnMethodRegistered).
  virtual void OnCallStarted(void* method) {}
  virtual void OnCallFinished(void* method, StatusCode code, std::chrono::nanoseconds elapsed) {}
  // A TLS handshake ended: result "ok", or why it failed ("unknown_ca", "no_client_cert",
  // "plaintext_refused", ...).
  virtual void OnTlsHandshake(std::string_view result) {}
  // A call was refused PERMISSION_DENIED by authz_allow.
  virtual void OnAuthzDenied(std::string_view service, std::string_view method) {}
};

// Runs before a handler; returning a non-OK status answers the call without running the
// handler. `delay` postpones the handler (or the error) by that long; `hang` never answers.
struct Interception {
  Status status;
  std::chrono::milliseconds delay{0};
  bool hang = false;
};
class ServerInterceptor {
 public:
  virtual ~ServerInterceptor() = default;
  virtual Interception Intercept(std::string_view service, std::string_view method) = 0;
};

// The services every Server adds itself: health checks and reflection (unless
// reflection=false). Not registered in ZooKeeper: every node serves them.
inline constexpr std::string_view kBuiltInServices[] = {"krpc.health.v1.Health", "krpc.reflection.v1.Reflection",
                                                        "grpc.reflection.v1.ServerReflection",
                                                        "grpc.reflection.v1alpha.ServerReflection"};

class Server {
 public:
  explicit Server(ServerOptions options);
  ~Server();  // stops without drain if still running
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Adds a service (not owned; must outlive the server). Call before Start().
  Status AddService(google::protobuf::Service* service);
  // Serves every method of the added service `service` ("pkg.Service") under the name `alias`
  // as well (same handler and messages), e.g. to keep an old package name working. Before Start().
  Status AddServiceAlias(const std::string& alias, const std::string& service);
  void SetObserver(std::shared_ptr<ServerObserver> observer);        // before Start()
  void SetInterceptor(std::shared_ptr<ServerInterceptor> interceptor);  // before Start()

  // Binds, listens and starts the I/O threads. Fails (with the address) if it cannot bind.
  Status Start();
  uint16_t port() const;
  // Full method names served, "/package.Service/Method".
  std::vector<std::string> Methods() const;
  std::vector<std::string> Services() const;

  // Graceful stop: stop accepting, GOAWAY to every connection, wait for in-flight calls up to
  // `drain_timeout`, close everything. Returns true if every call finished in time. Idempotent.
  bool Shutdown(std::chrono::milliseconds drain_timeout);
  bool Shutdown();  // with options.drain_timeout_ms
  bool draining() const;

  ServerStats stats() const;
  // Re-reads the TLS certificate, key and CA files now (the node does on SIGHUP); new
  // connections use them, open ones keep theirs. On failure the previous files stay in use.
  Status ReloadTls();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace krpc
