#include "krpc/net/tls_session.h"

#include <openssl/err.h>

#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace krpc::net {
namespace {
constexpr size_t kReadAhead = 256 * 1024;

BIO* NewOutput() {
  BIO* b = BIO_new(BIO_s_mem());
  if (!b) throw std::runtime_error("BIO_new failed");
  return b;
}
}  // namespace

TlsSession::TlsSession(SSL_CTX* context, int fd) : ssl_(SSL_new(context)) {
  if (!ssl_) throw std::runtime_error("SSL_new failed");
  BIO* in = BIO_new_socket(fd, BIO_NOCLOSE);  // the socket stays Asio's
  if (!in) throw std::runtime_error("BIO_new_socket failed");
  out_ = NewOutput();
  SSL_set_bio(ssl_, in, out_);  // ssl_ owns both
  SSL_set_read_ahead(ssl_, 1);
  SSL_set_default_read_buffer_len(ssl_, kReadAhead);
}

TlsSession::~TlsSession() { SSL_free(ssl_); }

void TlsSession::SetRole(bool server) {
  if (server) {
    SSL_set_accept_state(ssl_);
  } else {
    SSL_set_connect_state(ssl_);
  }
}

boost::system::error_code TlsSession::LastError(int ret) {
  const int err = SSL_get_error(ssl_, ret);
  switch (err) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:  // the output is memory: only reads can want more
      return boost::asio::error::would_block;
    case SSL_ERROR_ZERO_RETURN:
      return boost::asio::error::eof;
    case SSL_ERROR_SYSCALL: {
      const int e = errno;
      ERR_clear_error();
      if (e == 0 || e == EPIPE) return boost::asio::error::eof;
      return {e, boost::system::system_category()};
    }
    default: {
      const unsigned long e = ERR_get_error();
      ERR_clear_error();
      // A peer that closed without close_notify: an end of stream like any other.
      if (ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING) return boost::asio::error::eof;
      if (e) return {static_cast<int>(e), boost::asio::error::get_ssl_category()};
      return boost::asio::ssl::error::unspecified_system_error;
    }
  }
}

TlsSession::Progress TlsSession::Handshake(boost::system::error_code& ec) {
  ec.clear();
  ERR_clear_error();
  const int r = SSL_do_handshake(ssl_);
  if (r == 1) return Progress::kDone;
  ec = LastError(r);
  if (ec == boost::asio::error::would_block) {
    ec.clear();
    return Progress::kWantInput;
  }
  return Progress::kFailed;
}

size_t TlsSession::Read(char* data, size_t capacity, boost::system::error_code& ec) {
  ec.clear();
  size_t n = 0;
  ERR_clear_error();
  errno = 0;
  if (SSL_read_ex(ssl_, data, capacity, &n) == 1) return n;
  ec = LastError(0);
  return 0;
}

bool TlsSession::Write(const char* data, size_t size, boost::system::error_code& ec) {
  ec.clear();
  if (size == 0) return true;
  size_t n = 0;
  ERR_clear_error();
  errno = 0;
  if (SSL_write_ex(ssl_, data, size, &n) == 1 && n == size) return true;
  ec = LastError(0);
  if (ec == boost::asio::error::would_block) ec = boost::asio::ssl::error::unspecified_system_error;
  return false;
}

void TlsSession::TakeOutput(Output& out) {
  const size_t n = BIO_ctrl_pending(out_);
  if (n == 0) return;
  // Reading everything leaves the BIO empty with its memory kept for the next batch.
  const int got = BIO_read(out_, out.Extend(n), static_cast<int>(n));
  (void)got;  // a memory BIO hands over all it holds
}

bool TlsSession::HasPendingOutput() const { return BIO_ctrl_pending(out_) > 0; }

char* TlsSession::Output::Extend(size_t n) {
  if (size_ + n > capacity_) {
    const size_t capacity = std::max(size_ + n, capacity_ * 2);
    std::unique_ptr<char[]> bigger(new char[capacity]);  // default-initialized: not zeroed
    if (size_) std::memcpy(bigger.get(), data_.get(), size_);
    data_ = std::move(bigger);
    capacity_ = capacity;
  }
  char* at = data_.get() + size_;
  size_ += n;
  return at;
}

}  // namespace krpc::net
