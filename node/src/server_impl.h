// Server::Impl: the listening socket, the table of live connections and the stop state.
// Accepting (protocol choice by first byte, TLS handshakes) is in server_accept.cc; start,
// stop and stats in server.cc.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "authz_policy.h"
#include "call_host.h"
#include "health_service.h"
#include "reflection_service.h"
#include "krpc/net/stream.h"
#include "krpc/server.h"
#include "server_shared.h"

namespace krpc {

struct Server::Impl {
  std::shared_ptr<node::ServerShared> shared = std::make_shared<node::ServerShared>();
  std::unique_ptr<boost::asio::ip::tcp::acceptor> acceptor;
  uint16_t port = 0;
  bool started = false;
  bool stopped = false;
  std::mutex mu;  // guards conns and stop state; never taken on the call path
  std::unordered_map<uint64_t, std::weak_ptr<node::CallHost>> conns;
  uint64_t next_conn_id = 1;
  std::unique_ptr<node::HealthServiceImpl> health;
  std::unique_ptr<node::ReflectionServiceImpl> reflection;  // unless options.reflection is false
  node::AuthzPolicy authz;
  // Accept errors (EMFILE, ENFILE, ENOBUFS...) back off before the next accept instead of
  // spinning: 5 ms doubling to 1 s, reset by a successful accept. Acceptor thread only.
  std::unique_ptr<boost::asio::steady_timer> accept_retry;
  std::chrono::milliseconds accept_backoff{0};

  // Builds the TLS context and the authorization rules from the options (at Start).
  Status ConfigureSecurity();
  void Accept();
  void OnAccept(const boost::system::error_code& ec, boost::asio::ip::tcp::socket socket);
  void OnAcceptError(const boost::system::error_code& ec);
  // On the socket's loop: waits for the first byte, which names the protocol.
  void Sniff(std::shared_ptr<boost::asio::ip::tcp::socket> socket, bool over);
  void OnFirstByte(boost::asio::ip::tcp::socket socket, bool over);
  // The server side of a TLS handshake, bounded by frame_timeout_ms; then Adopt by ALPN.
  void HandshakeTls(boost::asio::ip::tcp::socket socket, bool over);
  // A connection is established: creates the protocol's connection and starts it (or has it
  // tell the client why it is refused, and close).
  void Adopt(net::Stream stream, node::Protocol protocol, node::Refusal refusal);
  // A connection ends before it was adopted (closed, refused, failed handshake).
  void Abandon() { shared->connections_open.fetch_sub(1); }
  std::vector<std::shared_ptr<node::CallHost>> LiveConnections();
};

}  // namespace krpc
