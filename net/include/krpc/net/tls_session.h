// TlsSession: one TLS connection's OpenSSL state over memory BIOs, with no socket of its own.
// net::Stream moves bytes between it and the socket: whatever arrived is fed in with one copy,
// and everything a batch of writes produced (any number of 16 KiB records) is taken out and
// written to the socket in one call. (Asio's ssl::stream goes through a 17 KiB BIO pair: one
// socket write, and one reactor round, per record.) Internal header.
#pragma once

#include <openssl/ssl.h>

#include <boost/system/error_code.hpp>

#include <cstddef>
#include <string>

namespace krpc::net {

class TlsSession {
 public:
  explicit TlsSession(SSL_CTX* context);
  ~TlsSession();
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;

  SSL* ssl() const { return ssl_; }
  void SetRole(bool server);

  enum class Progress { kDone, kWantInput, kFailed };
  // Advances the handshake with the input fed so far; output to send may follow (TakeOutput).
  Progress Handshake(boost::system::error_code& ec);

  // Bytes received from the peer.
  void Feed(const char* data, size_t size);
  // Decrypts into `data`; 0 with ec = would_block when more input is needed, eof when the
  // peer closed the session, an error in Asio's ssl category otherwise.
  size_t Read(char* data, size_t capacity, boost::system::error_code& ec);
  // Encrypts all of `data` into the output (never blocks: the output grows as needed).
  bool Write(const char* data, size_t size, boost::system::error_code& ec);
  // Appends the output produced so far to `out`, and forgets it.
  void TakeOutput(std::string& out);

  // Decrypted or undecrypted input waits inside: a read would not need the socket.
  bool HasBufferedInput() const;
  bool HasPendingOutput() const;

 private:
  boost::system::error_code LastError(int ret);
  SSL* ssl_ = nullptr;
  BIO* in_ = nullptr;   // network -> TLS (owned by ssl_)
  BIO* out_ = nullptr;  // TLS -> network (owned by ssl_)
};

}  // namespace krpc::net
