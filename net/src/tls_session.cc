#include "krpc/net/tls_session.h"

#include <openssl/err.h>

#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>

#include <stdexcept>

namespace krpc::net {

TlsSession::TlsSession(SSL_CTX* context) : ssl_(SSL_new(context)) {
  if (!ssl_) throw std::runtime_error("SSL_new failed");
  in_ = BIO_new(BIO_s_mem());
  out_ = BIO_new(BIO_s_mem());
  BIO_set_mem_eof_return(in_, -1);  // empty input means "retry", not end of stream
  BIO_set_mem_eof_return(out_, -1);
  SSL_set_bio(ssl_, in_, out_);     // ssl_ owns both
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
    case SSL_ERROR_WANT_WRITE:  // a memory BIO never refuses output
      return boost::asio::error::would_block;
    case SSL_ERROR_ZERO_RETURN:
      return boost::asio::error::eof;
    case SSL_ERROR_SSL: {
      const unsigned long e = ERR_get_error();
      ERR_clear_error();
      return {static_cast<int>(e), boost::asio::error::get_ssl_category()};
    }
    default: {
      const unsigned long e = ERR_get_error();
      ERR_clear_error();
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

void TlsSession::Feed(const char* data, size_t size) {
  if (size > 0) BIO_write(in_, data, static_cast<int>(size));
}

size_t TlsSession::Read(char* data, size_t capacity, boost::system::error_code& ec) {
  ec.clear();
  size_t n = 0;
  ERR_clear_error();
  if (SSL_read_ex(ssl_, data, capacity, &n) == 1) return n;
  ec = LastError(0);
  return 0;
}

bool TlsSession::Write(const char* data, size_t size, boost::system::error_code& ec) {
  ec.clear();
  if (size == 0) return true;
  size_t n = 0;
  ERR_clear_error();
  if (SSL_write_ex(ssl_, data, size, &n) == 1 && n == size) return true;
  ec = LastError(0);
  if (ec == boost::asio::error::would_block) ec = boost::asio::ssl::error::unspecified_system_error;
  return false;
}

void TlsSession::TakeOutput(std::string& out) {
  char* p = nullptr;
  const long n = BIO_get_mem_data(out_, &p);
  if (n <= 0) return;
  out.append(p, static_cast<size_t>(n));
  (void)BIO_reset(out_);
}

bool TlsSession::HasBufferedInput() const { return SSL_pending(ssl_) > 0 || BIO_ctrl_pending(in_) > 0; }
bool TlsSession::HasPendingOutput() const { return BIO_ctrl_pending(out_) > 0; }

}  // namespace krpc::net
