// TlsSession: one TLS connection's OpenSSL state. It reads ciphertext straight from the
// (non-blocking) socket with read-ahead, up to 256 KiB per recv, and writes records into memory:
// net::Stream takes everything a batch of writes produced (any number of 16 KiB records) and
// sends it with one socket write. (Asio's ssl::stream goes through a 17 KiB BIO
// pair: one socket write, and one reactor round, per record.) Internal header.
#pragma once

#include <openssl/ssl.h>

#include <boost/system/error_code.hpp>

#include <cstddef>
#include <memory>

namespace krpc::net {

class TlsSession {
 public:
  // `fd`: the connected socket (not owned; it must be non-blocking for reads to return).
  TlsSession(SSL_CTX* context, int fd);
  ~TlsSession();
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;

  SSL* ssl() const { return ssl_; }
  void SetRole(bool server);

  enum class Progress { kDone, kWantInput, kFailed };
  // Advances the handshake with what the socket holds; records to send may follow (TakeOutput).
  Progress Handshake(boost::system::error_code& ec);
  // Decrypts into `data`; 0 with ec = would_block when the socket has nothing more, eof when
  // the peer closed, an error in Asio's ssl category (or the system's) otherwise.
  size_t Read(char* data, size_t capacity, boost::system::error_code& ec);
  // Encrypts all of `data` into the output (never blocks: the output grows as needed).
  bool Write(const char* data, size_t size, boost::system::error_code& ec);

  // A send buffer that keeps its capacity (and never zero-fills what it is about to overwrite).
  class Output {
   public:
    const char* data() const { return data_.get(); }
    size_t size() const { return size_; }
    void clear() { size_ = 0; }
    char* Extend(size_t n);  // room for n more bytes at the end

   private:
    std::unique_ptr<char[]> data_;
    size_t size_ = 0, capacity_ = 0;
  };
  // Moves the records produced so far to the end of `out` (one copy; the session's memory
  // BIO keeps its capacity and is not scrubbed, unlike BIO_reset).
  void TakeOutput(Output& out);
  bool HasPendingOutput() const;
  // Decrypted or read-ahead input waits inside: a read would not need the socket.
  bool HasBufferedInput() const { return SSL_has_pending(ssl_) == 1; }

 private:
  boost::system::error_code LastError(int ret);
  SSL* ssl_ = nullptr;
  BIO* out_ = nullptr;  // the current output (owned by ssl_)
};

}  // namespace krpc::net
