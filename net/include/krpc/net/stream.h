// Stream: the byte stream under a framed connection, and the one seam between the framing
// and the transport. Every byte a connection reads or writes goes through these few calls,
// so TLS (and later HTTP/2) become another implementation here without touching the read
// loop, the write queue or either side's protocol logic. TCP for now. Internal header.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>

#include <cstddef>

namespace krpc::net {

class Stream {
 public:
  explicit Stream(boost::asio::ip::tcp::socket socket) : socket_(std::move(socket)) {}

  // The TCP socket, for connecting and socket options.
  boost::asio::ip::tcp::socket& socket() { return socket_; }

  // Reads what has arrived without blocking (would_block when nothing has).
  size_t ReadSome(char* data, size_t capacity, boost::system::error_code& ec) {
    return socket_.read_some(boost::asio::buffer(data, capacity), ec);
  }
  // Calls `handler(ec)` once the stream has bytes to read (or failed).
  template <typename Handler>
  void AsyncWaitReadable(Handler&& handler) {
    socket_.async_wait(boost::asio::ip::tcp::socket::wait_read, std::forward<Handler>(handler));
  }
  // Writes all of `data`; `handler(ec, bytes_written)`.
  template <typename Handler>
  void AsyncWriteAll(const char* data, size_t size, Handler&& handler) {
    boost::asio::async_write(socket_, boost::asio::buffer(data, size), std::forward<Handler>(handler));
  }
  // Reads into `data` whatever arrives next; `handler(ec, n)` (used to discard input).
  template <typename Handler>
  void AsyncReadSome(char* data, size_t capacity, Handler&& handler) {
    socket_.async_read_some(boost::asio::buffer(data, capacity), std::forward<Handler>(handler));
  }
  // Tells the peer nothing more will be written; reading goes on.
  void ShutdownSend() {
    boost::system::error_code ignored;
    socket_.shutdown(boost::asio::ip::tcp::socket::shutdown_send, ignored);
  }
  void Close() {
    boost::system::error_code ignored;
    socket_.shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
  }
  // Low latency and a non-blocking descriptor (ReadSome must never block).
  void Configure() {
    boost::system::error_code ignored;
    socket_.set_option(boost::asio::ip::tcp::no_delay(true), ignored);
    socket_.non_blocking(true, ignored);
  }

 private:
  boost::asio::ip::tcp::socket socket_;
};

}  // namespace krpc::net
