// TlsOptions: the certificate material of one side of a TLS connection, as configured (file
// paths and versions; no OpenSSL types, so option structs can hold it). The configuration keys
// are in docs/configuration.md.
#pragma once

#include <string>

namespace krpc {

class OptionSet;

struct TlsOptions {
  std::string cert_file;          // tls_cert_file: PEM certificate chain (leaf first)
  std::string key_file;           // tls_key_file: PEM private key of the certificate
  std::string ca_file;            // tls_ca_file: PEM CA bundle that peers' certificates must chain to
  std::string min_version = "1.3";  // tls_min_version: "1.3", or "1.2" to allow TLS 1.2
  int reload_interval_ms = 5000;  // tls_reload_interval_ms: how often changed files are noticed (0 = only on reload)

  // tls_cert_file, tls_key_file, tls_ca_file, tls_min_version, tls_reload_interval_ms
  void Register(OptionSet& o);
};

}  // namespace krpc
