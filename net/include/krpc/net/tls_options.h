// TlsOptions: the certificate material of one side of a TLS connection, as configured (file
// paths and versions; no OpenSSL types, so option structs can hold it). The configuration keys
// are in docs/configuration.md.
#pragma once

#include <string>
#include <string_view>

#include "krpc/config.h"

namespace krpc {

// The oldest TLS version a side accepts.
enum class TlsVersion { k1_3, k1_2 };
inline constexpr EnumName<TlsVersion> kTlsVersionNames[] = {{"1.3", TlsVersion::k1_3}, {"1.2", TlsVersion::k1_2}};

// TLS on a server's RPC port (Istio's peer authentication modes): kDisabled; kPermissive (TLS
// and plaintext on the one port, told apart by the first byte); kStrict (TLS only).
enum class TlsMode { kDisabled, kPermissive, kStrict };
inline constexpr EnumName<TlsMode> kTlsModeNames[] = {
    {"disabled", TlsMode::kDisabled}, {"permissive", TlsMode::kPermissive}, {"strict", TlsMode::kStrict}};

// Which client certificates a TLS server asks for: kNone; kRequest (verified when sent);
// kRequire (mutual TLS: a connection without a valid certificate fails its handshake).
enum class TlsClientAuth { kNone, kRequest, kRequire };
inline constexpr EnumName<TlsClientAuth> kTlsClientAuthNames[] = {
    {"none", TlsClientAuth::kNone}, {"request", TlsClientAuth::kRequest}, {"require", TlsClientAuth::kRequire}};

inline std::string_view ToString(TlsMode m) { return NameOf(kTlsModeNames, m); }
inline std::string_view ToString(TlsClientAuth a) { return NameOf(kTlsClientAuthNames, a); }
inline std::string_view ToString(TlsVersion v) { return NameOf(kTlsVersionNames, v); }

struct TlsOptions {
  std::string cert_file;          // tls_cert_file: PEM certificate chain (leaf first)
  std::string key_file;           // tls_key_file: PEM private key of the certificate
  std::string ca_file;            // tls_ca_file: PEM CA bundle that peers' certificates must chain to
  TlsVersion min_version = TlsVersion::k1_3;  // tls_min_version: "1.3", or "1.2" to allow TLS 1.2
  int reload_interval_ms = 5000;  // tls_reload_interval_ms: how often changed files are noticed (0 = only on reload)

  // tls_cert_file, tls_key_file, tls_ca_file, tls_min_version, tls_reload_interval_ms
  void Register(OptionSet& o);
};

}  // namespace krpc
