#include "krpc/net/tls_context.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/error.hpp>

#include "krpc/config.h"
#include "krpc/log.h"

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

namespace krpc::net {
namespace ssl = boost::asio::ssl;

namespace {

// The OpenSSL error queue of this thread, as one line (and emptied).
std::string OpenSslErrors() {
  std::string out;
  while (const unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "unknown error" : out;
}

Status FileError(const char* key, const std::string& path, const std::string& what) {
  return {StatusCode::kInvalidArgument, std::string("bad value for '") + key + "': '" + path + "': " + what};
}

// Wire form of an ALPN list: each name prefixed by its length.
std::string AlpnWire(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) {
    out.push_back(static_cast<char>(n.size()));
    out += n;
  }
  return out;
}

// Server: the first of our protocols (in our order) that the client offers.
int SelectAlpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned int inlen,
               void* arg) {
  const auto* ours = static_cast<const std::string*>(arg);
  for (size_t i = 0; i < ours->size();) {
    const auto len = static_cast<unsigned char>((*ours)[i]);
    for (unsigned int j = 0; j < inlen;) {
      const unsigned char theirs = in[j];
      if (theirs == len && j + 1 + theirs <= inlen && ours->compare(i + 1, len, reinterpret_cast<const char*>(in + j + 1), len) == 0) {
        *out = in + j + 1;
        *outlen = theirs;
        return SSL_TLSEXT_ERR_OK;
      }
      j += 1 + theirs;
    }
    i += 1 + len;
  }
  return SSL_TLSEXT_ERR_NOACK;  // no ALPN in the answer: the client is assumed to speak krpc
}

int64_t NotAfter(const X509* cert) {
  if (cert == nullptr) return 0;
  struct tm t {};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &t) != 1) return 0;
  return static_cast<int64_t>(timegm(&t));
}

}  // namespace

// The server's ALPN list, kept alive with the SSL_CTX that points at it.
struct AlpnHolder {
  std::string wire;
};

StatusOr<std::shared_ptr<TlsContext>> TlsContext::Create(Config config) {
  auto ctx = std::shared_ptr<TlsContext>(new TlsContext(std::move(config)));
  std::lock_guard lock(ctx->mu_);
  if (Status s = ctx->RebuildLocked(); !s.ok()) return s;
  ctx->reloads_.store(0);
  return ctx;
}

std::string TlsContext::Signature() const {
  std::string sig;
  for (const std::string* path : {&config_.files.cert_file, &config_.files.key_file, &config_.files.ca_file}) {
    struct stat st {};
    if (!path->empty() && ::stat(path->c_str(), &st) == 0) {
      sig += std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec) + ":" +
             std::to_string(st.st_size) + ":" + std::to_string(st.st_ino) + ";";
    } else {
      sig += "-;";
    }
  }
  return sig;
}

StatusOr<std::shared_ptr<ssl::context>> TlsContext::Build(int64_t* not_after) const {
  const auto& f = config_.files;
  const bool server = config_.role == Role::kServer;
  auto ctx = std::make_shared<ssl::context>(server ? ssl::context::tls_server : ssl::context::tls_client);
  SSL_CTX* c = ctx->native_handle();
  ERR_clear_error();
  SSL_CTX_set_min_proto_version(c, f.min_version == TlsVersion::k1_2 ? TLS1_2_VERSION : TLS1_3_VERSION);
  SSL_CTX_set_options(c, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_mode(c, SSL_MODE_RELEASE_BUFFERS);
  if (server && (f.cert_file.empty() || f.key_file.empty())) {
    return Status(StatusCode::kInvalidArgument, "TLS on the server needs 'tls_cert_file' and 'tls_key_file'");
  }
  if (!f.cert_file.empty() && SSL_CTX_use_certificate_chain_file(c, f.cert_file.c_str()) != 1) {
    return FileError("tls_cert_file", f.cert_file, OpenSslErrors());
  }
  if (!f.key_file.empty()) {
    if (SSL_CTX_use_PrivateKey_file(c, f.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
      return FileError("tls_key_file", f.key_file, OpenSslErrors());
    }
    if (SSL_CTX_check_private_key(c) != 1) {
      return FileError("tls_key_file", f.key_file, "does not match tls_cert_file: " + OpenSslErrors());
    }
  }
  if (!f.cert_file.empty() && f.key_file.empty()) {
    return Status(StatusCode::kInvalidArgument, "'tls_cert_file' is set but 'tls_key_file' is not");
  }
  if (!f.ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(c, f.ca_file.c_str(), nullptr) != 1) {
      return FileError("tls_ca_file", f.ca_file, OpenSslErrors());
    }
  } else if (!server || config_.client_auth != TlsClientAuth::kNone) {
    if (server) {
      return Status(StatusCode::kInvalidArgument, "'tls_client_auth' needs 'tls_ca_file' to verify client certificates");
    }
    SSL_CTX_set_default_verify_paths(c);  // a client without a CA file trusts the system's CAs
  }
  if (server) {
    int mode = SSL_VERIFY_NONE;
    if (config_.client_auth == TlsClientAuth::kRequest) mode = SSL_VERIFY_PEER;
    if (config_.client_auth == TlsClientAuth::kRequire) mode = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    SSL_CTX_set_verify(c, mode, nullptr);
    if (mode != SSL_VERIFY_NONE) {
      if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(f.ca_file.c_str())) SSL_CTX_set_client_CA_list(c, names);
    }
    // Clients do not resume sessions (each connection is long-lived): no tickets to mint.
    SSL_CTX_set_num_tickets(c, 0);
    SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
    if (!config_.alpn.empty()) {
      // The list lives in the SSL_CTX's ex_data-free slot: a holder owned by the context.
      auto* holder = new AlpnHolder{AlpnWire(config_.alpn)};
      static const int index = SSL_CTX_get_ex_new_index(
          0, nullptr, nullptr, nullptr,
          [](void*, void* p, CRYPTO_EX_DATA*, int, long, void*) { delete static_cast<AlpnHolder*>(p); });
      SSL_CTX_set_ex_data(c, index, holder);
      SSL_CTX_set_alpn_select_cb(c, &SelectAlpn, &holder->wire);
    }
  } else {
    SSL_CTX_set_verify(c, SSL_VERIFY_PEER, nullptr);
  }
  *not_after = NotAfter(SSL_CTX_get0_certificate(c));
  return ctx;
}

Status TlsContext::RebuildLocked() {
  const std::string sig = Signature();
  signature_ = sig;
  int64_t not_after = 0;
  auto built = Build(&not_after);
  if (!built.ok()) {
    reload_failures_.fetch_add(1, std::memory_order_relaxed);
    return built.status();
  }
  current_ = std::move(built).value();
  not_after_.store(not_after, std::memory_order_relaxed);
  reloads_.fetch_add(1, std::memory_order_relaxed);
  next_check_ = std::chrono::steady_clock::now() + std::chrono::milliseconds(config_.files.reload_interval_ms);
  return Status::Ok();
}

std::shared_ptr<ssl::context> TlsContext::Get() {
  std::lock_guard lock(mu_);
  const auto now = std::chrono::steady_clock::now();
  if (config_.files.reload_interval_ms > 0 && now >= next_check_) {
    next_check_ = now + std::chrono::milliseconds(config_.files.reload_interval_ms);
    if (Signature() != signature_) {
      if (Status s = RebuildLocked(); s.ok()) {
        log::Get("tls")->info("certificate files changed: reloaded (new connections use them)");
      } else {
        log::Get("tls")->error("certificate files changed but cannot be loaded, keeping the previous ones: {}",
                               s.message());
      }
    }
  }
  return current_;
}

Status TlsContext::Reload() {
  std::lock_guard lock(mu_);
  Status s = RebuildLocked();
  if (s.ok()) {
    log::Get("tls")->info("certificate files reloaded (new connections use them)");
  } else {
    log::Get("tls")->error("certificate reload failed, keeping the previous files: {}", s.message());
  }
  return s;
}

PeerIdentity PeerIdentityOf(const SSL* ssl) {
  PeerIdentity id;
  if (ssl == nullptr) return id;
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (cert == nullptr || SSL_get_verify_result(ssl) != X509_V_OK) return id;
  id.authenticated = true;
  if (BIO* bio = BIO_new(BIO_s_mem())) {
    X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253);
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio, &data);
    if (n > 0) id.subject.assign(data, static_cast<size_t>(n));
    BIO_free(bio);
  }
  std::vector<std::string> dns;
  if (auto* sans = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr))) {
    for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
      const GENERAL_NAME* n = sk_GENERAL_NAME_value(sans, i);
      if (n->type != GEN_URI && n->type != GEN_DNS) continue;
      const ASN1_IA5STRING* s = n->type == GEN_URI ? n->d.uniformResourceIdentifier : n->d.dNSName;
      std::string v(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)), static_cast<size_t>(ASN1_STRING_length(s)));
      (n->type == GEN_URI ? id.names : dns).push_back(std::move(v));
    }
    GENERAL_NAMES_free(sans);
  }
  id.names.insert(id.names.end(), dns.begin(), dns.end());
  const X509_NAME* subject = X509_get_subject_name(cert);
  const int cn = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (cn >= 0) {
    const ASN1_STRING* s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, cn));
    id.names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)), static_cast<size_t>(ASN1_STRING_length(s)));
  }
  return id;
}

TlsFailure DescribeTlsFailure(const SSL* ssl, const boost::system::error_code& ec) {
  const long verify = ssl != nullptr ? SSL_get_verify_result(ssl) : X509_V_OK;
  if (verify != X509_V_OK) {
    std::string reason = "verify_failed";
    switch (verify) {
      case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
      case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
      case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
      case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
      case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
      case X509_V_ERR_CERT_SIGNATURE_FAILURE:
        reason = "unknown_ca";
        break;
      case X509_V_ERR_HOSTNAME_MISMATCH:
      case X509_V_ERR_IP_ADDRESS_MISMATCH:
        reason = "name_mismatch";
        break;
      case X509_V_ERR_CERT_HAS_EXPIRED:
        reason = "expired";
        break;
      case X509_V_ERR_CERT_NOT_YET_VALID:
        reason = "not_yet_valid";
        break;
      default:
        break;
    }
    return {reason, std::string("certificate verify failed: ") + X509_verify_cert_error_string(verify)};
  }
  std::string reason = "handshake";
  if (ec == boost::asio::error::eof || ec == boost::asio::ssl::error::stream_truncated ||
      ec == boost::asio::error::connection_reset) {
    reason = "closed";
  } else if (ec.category() == boost::asio::error::get_ssl_category()) {
    switch (ERR_GET_REASON(static_cast<unsigned long>(ec.value()))) {
      case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
        reason = "no_client_cert";
        break;
      case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
        reason = "client_cert_required";
        break;
      case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
        reason = "unknown_ca";
        break;
      case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
        reason = "expired";
        break;
      case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
      case SSL_R_TLSV1_ALERT_DECRYPT_ERROR:
        reason = "bad_certificate";
        break;
      case SSL_R_WRONG_VERSION_NUMBER:
      case SSL_R_PACKET_LENGTH_TOO_LONG:
      case SSL_R_HTTP_REQUEST:
        reason = "not_tls";
        break;
      case SSL_R_UNSUPPORTED_PROTOCOL:
      case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
        reason = "protocol_version";
        break;
      case SSL_R_NO_APPLICATION_PROTOCOL:
      case SSL_R_TLSV1_ALERT_NO_APPLICATION_PROTOCOL:
        reason = "alpn";
        break;
      default:
        break;
    }
  }
  return {reason, ec.message()};
}

void ConfigureClientSession(SSL* ssl, const std::string& expected_name, const std::string& alpn) {
  boost::system::error_code ec;
  const auto ip = boost::asio::ip::make_address(expected_name, ec);
  if (!ec) {
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), ip.to_string().c_str());
  } else if (!expected_name.empty()) {
    SSL_set_tlsext_host_name(ssl, expected_name.c_str());
    SSL_set1_host(ssl, expected_name.c_str());
  }
  if (!alpn.empty()) {
    const std::string wire = AlpnWire({alpn});
    SSL_set_alpn_protos(ssl, reinterpret_cast<const unsigned char*>(wire.data()), static_cast<unsigned>(wire.size()));
  }
}

std::string NegotiatedAlpn(const SSL* ssl) {
  const unsigned char* p = nullptr;
  unsigned int n = 0;
  SSL_get0_alpn_selected(ssl, &p, &n);
  return p == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(p), n);
}

}  // namespace krpc::net
