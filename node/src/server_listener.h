// Listener: the server's listening socket and its accept loop, as an object that keeps itself
// alive through its own handlers (no handler holds a raw pointer to the server). Accept errors
// (EMFILE, ENFILE, ENOBUFS...) back off before the next accept instead of spinning: 5 ms
// doubling to 1 s, reset by a successful accept. Each accepted socket is counted open and
// handed to an IncomingConnection.
//
// Threading: the acceptor's I/O thread runs the loop; Start and Stop may be called from any
// thread (Stop waits for the acceptor's thread).
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <memory>

#include "connection_table.h"
#include "server_shared.h"

namespace krpc::node {

class Listener : public std::enable_shared_from_this<Listener> {
 public:
  Listener(std::shared_ptr<ServerShared> shared, std::shared_ptr<ConnectionTable> table,
           boost::asio::ip::tcp::acceptor acceptor);
  uint16_t port() const { return port_; }
  // Begins accepting (on the acceptor's thread).
  void Start();
  // Stops accepting: closes the acceptor and cancels a backoff, on the acceptor's thread, and
  // returns once that is done. Idempotent. The acceptor's loop must still run.
  void Stop();

 private:
  void Accept();
  void OnAccept(const boost::system::error_code& ec, boost::asio::ip::tcp::socket socket);
  void OnAcceptError(const boost::system::error_code& ec);

  std::shared_ptr<ServerShared> shared_;
  std::shared_ptr<ConnectionTable> table_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer retry_;
  std::chrono::milliseconds backoff_{0};
  uint16_t port_ = 0;
};

}  // namespace krpc::node
