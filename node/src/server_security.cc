// The server's security at start-up: the authorization rules and the TLS context, from the
// typed options (a value outside its enum stops start-up naming the key).
#include "krpc/net/tls_context.h"
#include "server_impl.h"

namespace krpc {

namespace {
// A value outside its enum's table (an integer cast by a C++ caller) stops start-up: a
// security setting never falls back to a default that is more open.
template <typename E, size_t N>
Status CheckEnum(const char* key, E value, const EnumName<E> (&names)[N]) {
  if (NameOf(names, value) != "?") return Status::Ok();
  return {StatusCode::kInvalidArgument, fmt::format("bad value for '{}': {}", key, static_cast<int>(value))};
}
}  // namespace

Status Server::Impl::ConfigureSecurity() {
  auto& o = shared->options;
  for (const Status& s : {CheckEnum("tls_mode", o.tls_mode, kTlsModeNames),
                          CheckEnum("tls_client_auth", o.tls_client_auth, kTlsClientAuthNames),
                          CheckEnum("authz_default", o.authz_default, kAuthzDefaultNames),
                          CheckEnum("tls_min_version", o.tls.min_version, kTlsVersionNames)}) {
    if (!s.ok()) return s;
  }
  if (Status s = authz.Parse(o.authz_allow, o.authz_default == AuthzDefault::kDeny, shared->methods); !s.ok()) return s;
  authz.Apply(shared->methods);
  if (o.tls_mode == TlsMode::kDisabled) return Status::Ok();
  net::TlsContext::Config config;
  config.role = net::TlsContext::Role::kServer;
  config.files = o.tls;
  config.client_auth = o.tls_client_auth;
  config.alpn = {"h2", "krpc"};
  auto ctx = net::TlsContext::Create(std::move(config));
  if (!ctx.ok()) return ctx.status();
  shared->tls = std::move(ctx).value();
  shared->tls_strict = o.tls_mode == TlsMode::kStrict;
  return Status::Ok();
}

}  // namespace krpc
