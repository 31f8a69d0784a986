#include "krpc/net/tls_options.h"

#include "krpc/config.h"

namespace krpc {

void TlsOptions::Register(OptionSet& o) {
  o.AddString("tls_cert_file", &cert_file, "PEM certificate chain presented to peers (leaf first)");
  o.AddString("tls_key_file", &key_file, "PEM private key of tls_cert_file");
  o.AddString("tls_ca_file", &ca_file, "PEM CA bundle that peers' certificates must chain to");
  o.AddEnum("tls_min_version", &min_version, kTlsVersionNames, "oldest TLS version accepted: 1.3, or 1.2");
  o.AddInt("tls_reload_interval_ms", &reload_interval_ms, 0, 86400000,
           "how often changed certificate files are noticed (0 = only on SIGHUP)");
}

}  // namespace krpc

