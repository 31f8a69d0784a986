#include "krpc/net/tls_context.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/error.hpp>

#include "krpc/log.h"
#include "tls_alpn.h"

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

}  // namespace krpc::net
