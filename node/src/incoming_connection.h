// IncomingConnection: one accepted socket until its protocol is known, as a stage object that
// keeps itself alive through its own handlers (Beast's detect_session). It waits for the first
// byte without consuming it ("K": krpc, "P": the HTTP/2 preface of gRPC, 0x16: a TLS
// ClientHello; a peer that sends nothing within the idle limit is closed), runs the server side
// of a TLS handshake when it is one (bounded by frame_timeout_ms; ALPN then names the
// protocol), and hands the stream to the protocol's connection, which it adds to the table.
// A socket that ends here is counted as closed, with its reason, like any other connection.
//
// Threading: the socket's I/O thread.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <memory>
#include <string>

#include "call_host.h"
#include "connection_table.h"
#include "krpc/net/stream.h"
#include "server_shared.h"

namespace krpc::node {

class IncomingConnection : public std::enable_shared_from_this<IncomingConnection> {
 public:
  // Takes an accepted socket (already counted open); `over`: beyond max_connections.
  static void Start(std::shared_ptr<ServerShared> shared, std::shared_ptr<ConnectionTable> table,
                    boost::asio::ip::tcp::socket socket, bool over);

  IncomingConnection(std::shared_ptr<ServerShared> shared, std::shared_ptr<ConnectionTable> table,
                     boost::asio::ip::tcp::socket socket, bool over);

 private:
  void WaitFirstByte();
  void OnFirstByte();
  void HandshakeTls();
  void Adopt(Protocol protocol, Refusal refusal);
  // The socket ends before a protocol took it (closed, silent, failed handshake, stopping).
  void Abandon(std::string_view reason);

  std::shared_ptr<ServerShared> shared_;
  std::shared_ptr<ConnectionTable> table_;
  net::Stream stream_;
  boost::asio::steady_timer timer_;  // the first byte's wait, then the handshake's bound
  const bool over_;
  bool timed_out_ = false;        // the first byte's wait ran out (closed and counted)
  bool first_byte_seen_ = false;  // the wait ended first: the timer no longer counts
  std::string peer_;  // "ip:port", read before a handshake (the socket may be closed after)
};

}  // namespace krpc::node
