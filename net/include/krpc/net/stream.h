// Stream: the byte stream under a connection (krpc framing or HTTP/2), and the one seam between
// the protocols and the transport: plain TCP, or TLS over it (TlsSession: OpenSSL reading the
// socket directly, its records batched into one socket write per AsyncWriteAll).
// Every byte a connection reads or writes goes through these few calls.
//
// Reads are readiness-based (wait, then read what has arrived without blocking). With TLS a
// read may leave bytes inside the TLS layer (a record received but not yet returned) that the
// socket will never signal again, so after a read that returned data the next wait completes
// at once; the read after it drains the rest or says would_block.
//
// Lifetime: the socket and the TLS state live in one shared State that every pending
// operation of the stream holds, so no handler keeps a pointer to the Stream object itself
// (which moves from its accepting stage into its connection). Internal header.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream_base.hpp>
#include <boost/asio/write.hpp>

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "krpc/net/tls_session.h"

namespace krpc::net {

class Stream {
 public:
  explicit Stream(boost::asio::ip::tcp::socket socket) : s_(std::make_shared<State>(std::move(socket))) {}
  Stream(Stream&&) = default;
  Stream& operator=(Stream&&) = default;
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  // The TCP socket, for connecting and socket options.
  boost::asio::ip::tcp::socket& socket() { return s_->socket; }
  // The TLS session, or null for plain TCP.
  SSL* ssl() { return s_->tls ? s_->tls->session.ssl() : nullptr; }
  bool tls() const { return s_->tls != nullptr; }

  // Wraps the connected socket in TLS with `context` (kept alive with the session); then
  // AsyncHandshake. Client settings (SNI, name check, ALPN) go on ssl() in between.
  void StartTls(std::shared_ptr<boost::asio::ssl::context> context) {
    s_->tls = std::make_unique<Tls>(std::move(context), s_->socket.native_handle());
  }
  // Runs the handshake; `handler(ec)`. Errors are in Asio's ssl category (or eof when the peer
  // closed), as net::DescribeTlsFailure expects.
  void AsyncHandshake(boost::asio::ssl::stream_base::handshake_type type,
                      std::function<void(const boost::system::error_code&)> handler) {
    s_->tls->session.SetRole(type == boost::asio::ssl::stream_base::server);
    HandshakeStep(s_, std::move(handler));
  }

  // Reads what has arrived without blocking (would_block when nothing has). A TLS peer's
  // clean or unclean close both read as eof.
  size_t ReadSome(char* data, size_t capacity, boost::system::error_code& ec) { return ReadSome(s_, data, capacity, ec); }
  // Calls `handler(ec)` once the stream has bytes to read (or failed).
  template <typename Handler>
  void AsyncWaitReadable(Handler&& handler) {
    WaitReadable(*s_, std::forward<Handler>(handler));
  }
  // Writes all of `data`; `handler(ec, bytes_written)`. One write at a time. With TLS the
  // whole buffer is encrypted first and its records leave in one socket write.
  template <typename Handler>
  void AsyncWriteAll(const char* data, size_t size, Handler&& handler) {
    if (!s_->tls) {
      boost::asio::async_write(s_->socket, boost::asio::buffer(data, size), std::forward<Handler>(handler));
      return;
    }
    boost::system::error_code ec;
    if (!s_->tls->session.Write(data, size, ec)) {
      boost::asio::post(s_->socket.get_executor(), [h = std::forward<Handler>(handler), ec]() mutable { h(ec, 0); });
      return;
    }
    FlushTls(s_, [h = std::forward<Handler>(handler), size](const boost::system::error_code& ec) mutable {
      h(ec, ec ? 0 : size);
    });
  }
  // Writes without blocking what can leave now and removes it from the front of `buf`;
  // returns how many bytes that was (0 when nothing could, or the write failed: the
  // AsyncWriteAll that follows then fails the same way and reports it). Plain TCP: what the
  // socket took. TLS: all of `buf` once encrypted (none while earlier records are still on
  // their way); records the socket did not take wait inside (output_pending) until an
  // AsyncWriteAll, which sends them first.
  size_t WriteNow(std::vector<char>& buf) {
    boost::system::error_code ec;
    const size_t n = s_->tls ? TryWriteTls(buf.data(), buf.size(), ec)
                             : s_->socket.write_some(boost::asio::buffer(buf.data(), buf.size()), ec);
    if (n == buf.size()) {
      buf.clear();
    } else {
      buf.erase(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
    }
    return n;
  }
  // TLS records are waiting to be sent (after a WriteNow the socket did not fully take).
  bool output_pending() const {
    const auto& t = s_->tls;
    return t && (t->sent < t->sending.size() || t->session.HasPendingOutput());
  }
  // Reads into `data` whatever arrives next; `handler(ec, n)` (used to discard input).
  // `data` must stay valid until the handler runs (the caller's handler owns it).
  template <typename Handler>
  void AsyncReadSome(char* data, size_t capacity, Handler&& handler) {
    ReadSomeAsync(s_, data, capacity, std::forward<Handler>(handler));
  }
  // Tells the peer nothing more will be written; reading goes on.
  void ShutdownSend() {
    boost::system::error_code ignored;
    s_->socket.shutdown(boost::asio::ip::tcp::socket::shutdown_send, ignored);
  }
  void Close() {
    boost::system::error_code ignored;
    s_->socket.shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
    s_->socket.close(ignored);
  }
  // Low latency and a non-blocking descriptor (ReadSome must never block).
  void Configure() {
    boost::system::error_code ignored;
    s_->socket.set_option(boost::asio::ip::tcp::no_delay(true), ignored);
    s_->socket.non_blocking(true, ignored);
  }

 private:
  struct Tls {
    Tls(std::shared_ptr<boost::asio::ssl::context> c, int fd) : context(std::move(c)), session(context->native_handle(), fd) {}
    std::shared_ptr<boost::asio::ssl::context> context;
    TlsSession session;
    TlsSession::Output sending;  // records on their way to the socket
    size_t sent = 0;             // of `sending`, written by WriteNow
    bool writing = false;
    // More may wait inside the TLS layer: the last read filled its buffer, or no read has
    // happened since the handshake (bytes that came with its last flight).
    bool buffered = true;
  };

  // What pending operations hold: the socket and (with TLS) the session.
  struct State {
    explicit State(boost::asio::ip::tcp::socket s) : socket(std::move(s)) {}
    boost::asio::ip::tcp::socket socket;
    std::unique_ptr<Tls> tls;
  };
  using Handler = std::function<void(const boost::system::error_code&)>;

  static size_t ReadSome(const std::shared_ptr<State>& s, char* data, size_t capacity, boost::system::error_code& ec) {
    if (!s->tls) return s->socket.read_some(boost::asio::buffer(data, capacity), ec);
    return ReadTls(s, data, capacity, ec);
  }
  template <typename H>
  static void WaitReadable(State& s, H&& handler) {
    if (s.tls && s.tls->buffered) {
      s.tls->buffered = false;
      boost::asio::post(s.socket.get_executor(), [h = std::forward<H>(handler)]() mutable { h(boost::system::error_code()); });
      return;
    }
    s.socket.async_wait(boost::asio::ip::tcp::socket::wait_read, std::forward<H>(handler));
  }
  template <typename H>
  static void ReadSomeAsync(std::shared_ptr<State> s, char* data, size_t capacity, H&& handler) {
    if (!s->tls) {
      s->socket.async_read_some(boost::asio::buffer(data, capacity), std::forward<H>(handler));
      return;
    }
    State& state = *s;
    WaitReadable(state, [s = std::move(s), data, capacity, h = std::forward<H>(handler)](const boost::system::error_code& ec) mutable {
      if (ec) return h(ec, 0);
      boost::system::error_code rec;
      const size_t n = ReadSome(s, data, capacity, rec);
      if (rec == boost::asio::error::would_block) return ReadSomeAsync(std::move(s), data, capacity, std::move(h));
      h(rec, n);
    });
  }
  static size_t ReadTls(const std::shared_ptr<State>& s, char* data, size_t capacity, boost::system::error_code& ec);
  size_t TryWriteTls(const char* data, size_t size, boost::system::error_code& ec);
  static void HandshakeStep(std::shared_ptr<State> s, Handler handler);
  // Sends every record the session holds, then `handler(ec)`.
  static void FlushTls(std::shared_ptr<State> s, Handler handler);

  std::shared_ptr<State> s_;
};

}  // namespace krpc::net
