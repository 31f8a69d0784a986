// ServerOptions' configuration keys (docs/configuration.md lists them).
#include "krpc/config.h"
#include "krpc/codec/frame.h"
#include "krpc/server.h"

namespace krpc {

void ServerOptions::Register(OptionSet& o) {
  o.AddString("listen_host", &listen_host, "address the RPC port binds to");
  o.AddPort("port", &port, "RPC port (0 = any free port)");
  o.AddInt("io_threads", &io_threads, 0, 256, "I/O threads (0 = one per core)");
  o.AddInt("handler_threads", &handler_threads, 0, 1024, "worker threads for blocking handlers (0 = run on I/O threads)");
  o.AddUint("max_body_bytes", &max_body_bytes, 1024, codec::kHardMaxBodyBytes, "largest request/response body");
  o.AddInt("max_connections", &max_connections, 1, 1000000, "connections beyond this are refused with GOAWAY");
  o.AddIntOr("max_inflight", &max_inflight, 1, 10000000, "auto", &max_inflight_auto,
             "calls beyond this get RESOURCE_EXHAUSTED; auto: an adaptive limit from measured latency");
  o.AddString("method_max_inflight", &method_max_inflight, "per-method limits: /pkg.Svc/Method=N|auto,...");
  auto_limit.Register(o);
  o.AddBool("early_refusal", &early_refusal, "refuse calls whose remaining deadline is below the method's median handler time");
  o.AddInt("overload_pushback_ms", &overload_pushback_ms, -1, 3600000,
           "retry pushback sent with overload refusals (-1: clients must not retry)");
  o.AddUint("max_write_queue_bytes", &max_write_queue_bytes, 4096, 1u << 30,
            "unsent bytes per connection beyond which replies wait unencoded (dropped if cancelled or expired)");
  o.AddInt("heartbeat_interval_ms", &heartbeat_interval_ms, 10, 3600000, "heartbeat period");
  o.AddInt("heartbeat_miss_limit", &heartbeat_miss_limit, 1, 100, "idle connections close after interval*(limit+1)");
  o.AddInt("drain_timeout_ms", &drain_timeout_ms, 0, 3600000, "graceful stop: wait this long for in-flight calls and GOAWAY acknowledgements");
  o.AddBool("reflection", &reflection, "serve krpc.reflection.v1.Reflection and gRPC's grpc.reflection.v1/v1alpha ServerReflection (service schemas for generic clients)");
  o.AddInt("frame_timeout_ms", &frame_timeout_ms, 10, 3600000,
           "a frame whose first byte arrived must be complete within this, else the connection closes");
  o.AddInt("max_pending_frame_bytes", &max_pending_frame_bytes, 1 << 20, int64_t{1} << 40,
           "memory all connections may hold for partly received frames; beyond it a connection closes");
  o.AddEnum("tls_mode", &tls_mode, kTlsModeNames,
              "TLS on the RPC port: disabled, permissive (TLS and plaintext) or strict (TLS only)");
  o.AddEnum("tls_client_auth", &tls_client_auth, kTlsClientAuthNames,
              "client certificates: none, request (verified when sent) or require (mutual TLS)");
  tls.Register(o);
  o.AddString("authz_allow", &authz_allow, "who may call what: pkg.Svc[/Method]=identity,...;... (TLS identities)");
  o.AddEnum("authz_default", &authz_default, kAuthzDefaultNames, "methods without an authz_allow rule: allow or deny");
}

}  // namespace krpc
