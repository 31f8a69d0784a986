// Stream: the byte stream under a connection (krpc framing or HTTP/2), and the one seam between
// the protocols and the transport: plain TCP, or TLS over it (Asio's SSL stream on OpenSSL).
// Every byte a connection reads or writes goes through these few calls.
//
// Reads are readiness-based (wait, then read what has arrived without blocking). With TLS a
// read may leave bytes inside the TLS layer (a record received but not yet returned) that the
// socket will never signal again, so after a read that returned data the next wait completes
// at once; the read after it drains the rest or says would_block. Internal header.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/write.hpp>

#include <cstddef>
#include <memory>

namespace krpc::net {

using TlsSocket = boost::asio::ssl::stream<boost::asio::ip::tcp::socket>;

class Stream {
 public:
  explicit Stream(boost::asio::ip::tcp::socket socket) : socket_(std::move(socket)) {}
  // A TLS stream (handshake done, or to be done with AsyncHandshake). `context` is kept alive
  // with the session.
  Stream(std::unique_ptr<TlsSocket> tls, std::shared_ptr<boost::asio::ssl::context> context)
      : socket_(tls->get_executor()), tls_(std::move(tls)), context_(std::move(context)) {}
  // (tls_buffered_ starts true: bytes that arrived with the handshake's last flight may
  // already sit inside the TLS layer, where no socket readiness will announce them.)
  Stream(Stream&&) = default;

  // The TCP socket, for connecting and socket options.
  boost::asio::ip::tcp::socket& socket() { return tls_ ? tls_->next_layer() : socket_; }
  // The TLS session, or null for plain TCP.
  SSL* ssl() { return tls_ ? tls_->native_handle() : nullptr; }
  bool tls() const { return tls_ != nullptr; }

  // Client: wraps the connected socket in TLS with `context`; then AsyncHandshake.
  void StartTls(std::shared_ptr<boost::asio::ssl::context> context) {
    tls_ = std::make_unique<TlsSocket>(std::move(socket_), *context);
    context_ = std::move(context);
    tls_buffered_ = true;
  }
  template <typename Handler>
  void AsyncHandshake(boost::asio::ssl::stream_base::handshake_type type, Handler&& handler) {
    tls_->async_handshake(type, std::forward<Handler>(handler));
  }

  // Reads what has arrived without blocking (would_block when nothing has). A TLS peer's
  // clean or unclean close both read as eof.
  size_t ReadSome(char* data, size_t capacity, boost::system::error_code& ec) {
    if (!tls_) return socket_.read_some(boost::asio::buffer(data, capacity), ec);
    // TLS returns one record per read: read until `data` is full or nothing is left. Only
    // would_block proves the TLS layer empty; an error after data is reported next time.
    size_t total = 0;
    ec.clear();
    while (total < capacity) {
      boost::system::error_code rec;
      const size_t n = tls_->read_some(boost::asio::buffer(data + total, capacity - total), rec);
      total += n;
      if (!rec) continue;
      if (rec == boost::asio::ssl::error::stream_truncated) rec = boost::asio::error::eof;
      const bool empty = rec == boost::asio::error::would_block || rec == boost::asio::error::try_again;
      if (total == 0) {
        ec = rec;
        tls_buffered_ = false;
      } else {
        tls_buffered_ = !empty;
      }
      return total;
    }
    tls_buffered_ = true;
    return total;
  }
  // Calls `handler(ec)` once the stream has bytes to read (or failed).
  template <typename Handler>
  void AsyncWaitReadable(Handler&& handler) {
    if (tls_buffered_) {
      tls_buffered_ = false;
      boost::asio::post(socket().get_executor(), [h = std::forward<Handler>(handler)]() mutable {
        h(boost::system::error_code());
      });
      return;
    }
    socket().async_wait(boost::asio::ip::tcp::socket::wait_read, std::forward<Handler>(handler));
  }
  // Writes all of `data`; `handler(ec, bytes_written)`.
  template <typename Handler>
  void AsyncWriteAll(const char* data, size_t size, Handler&& handler) {
    if (tls_) {
      boost::asio::async_write(*tls_, boost::asio::buffer(data, size), std::forward<Handler>(handler));
    } else {
      boost::asio::async_write(socket_, boost::asio::buffer(data, size), std::forward<Handler>(handler));
    }
  }
  // Reads into `data` whatever arrives next; `handler(ec, n)` (used to discard input).
  template <typename Handler>
  void AsyncReadSome(char* data, size_t capacity, Handler&& handler) {
    if (tls_) {
      tls_->async_read_some(boost::asio::buffer(data, capacity), std::forward<Handler>(handler));
    } else {
      socket_.async_read_some(boost::asio::buffer(data, capacity), std::forward<Handler>(handler));
    }
  }
  // Tells the peer nothing more will be written; reading goes on.
  void ShutdownSend() {
    boost::system::error_code ignored;
    socket().shutdown(boost::asio::ip::tcp::socket::shutdown_send, ignored);
  }
  void Close() {
    boost::system::error_code ignored;
    socket().shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
    socket().close(ignored);
  }
  // Low latency and a non-blocking descriptor (ReadSome must never block).
  void Configure() {
    boost::system::error_code ignored;
    socket().set_option(boost::asio::ip::tcp::no_delay(true), ignored);
    socket().non_blocking(true, ignored);
  }

 private:
  boost::asio::ip::tcp::socket socket_;  // plain TCP (unused, never opened, under TLS)
  std::unique_ptr<TlsSocket> tls_;
  std::shared_ptr<boost::asio::ssl::context> context_;
  // More may wait inside the TLS layer: the last read filled its buffer, or no read has
  // happened since the handshake.
  bool tls_buffered_ = true;
};

}  // namespace krpc::net
