// TlsContext: the OpenSSL context of one side (server or client), built from TlsOptions and
// rebuilt when its files change, so certificates rotate without a restart: new connections
// take the new material, connections already open keep theirs. Also the helpers every TLS
// connection needs (tls_peer.cc): the verified peer identity and a failed handshake's reason.
//
// Thread-safe. Internal header (OpenSSL types).
#pragma once

#include <boost/asio/ssl/context.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "krpc/net/tls_options.h"
#include "krpc/peer_identity.h"
#include "krpc/status.h"

namespace krpc::net {

class TlsContext {
 public:
  enum class Role { kClient, kServer };
  struct Config {
    Role role = Role::kClient;
    TlsOptions files;
    TlsClientAuth client_auth = TlsClientAuth::kNone;  // server: which client certificates are asked for
    // Server: the protocols it accepts, in its order of preference ("h2", "krpc"); a client
    // that offers none of them gets no ALPN answer (krpc is assumed).
    std::vector<std::string> alpn;
  };

  // Loads the files now; a missing or bad file is an error naming its configuration key.
  static StatusOr<std::shared_ptr<TlsContext>> Create(Config config);

  // The current material. At most once per reload interval, checks whether a file changed
  // (modification time, size) and if so rebuilds; a rebuild that fails keeps the old material.
  std::shared_ptr<boost::asio::ssl::context> Get();
  // Re-reads the files now (SIGHUP). On failure the old material stays in use.
  Status Reload();

  uint64_t reloads() const { return reloads_.load(std::memory_order_relaxed); }
  uint64_t reload_failures() const { return reload_failures_.load(std::memory_order_relaxed); }
  // When the current certificate expires (seconds since the epoch; 0 without a certificate).
  int64_t cert_not_after() const { return not_after_.load(std::memory_order_relaxed); }
  const Config& config() const { return config_; }

 private:
  explicit TlsContext(Config config) : config_(std::move(config)) {}
  StatusOr<std::shared_ptr<boost::asio::ssl::context>> Build(int64_t* not_after) const;
  std::string Signature() const;
  Status RebuildLocked();

  const Config config_;
  std::mutex mu_;
  std::shared_ptr<boost::asio::ssl::context> current_;
  std::string signature_;  // of the files the current (or last failed) build read
  std::chrono::steady_clock::time_point next_check_;
  std::atomic<uint64_t> reloads_{0};
  std::atomic<uint64_t> reload_failures_{0};
  std::atomic<int64_t> not_after_{0};
};

// The verified identity of the peer of a TLS session (unauthenticated without a certificate).
PeerIdentity PeerIdentityOf(const SSL* ssl);

// Why a handshake failed, as a short metric label ("unknown_ca", "name_mismatch", "expired",
// "no_client_cert", "not_tls", ...) and as a sentence for logs and errors.
struct TlsFailure {
  std::string reason;
  std::string message;
};
TlsFailure DescribeTlsFailure(const SSL* ssl, const boost::system::error_code& ec);

// A client session's checks of the server: SNI and the expected name (a DNS name, or an IP
// address, in the certificate's subject alternative names), and the ALPN protocol it offers.
void ConfigureClientSession(SSL* ssl, const std::string& expected_name, const std::string& alpn);

// The ALPN protocol the handshake agreed on ("" when none).
std::string NegotiatedAlpn(const SSL* ssl);

}  // namespace krpc::net
