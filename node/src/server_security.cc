// Accepting connections: the accept loop with its backoff, the protocol choice by the first
// byte (krpc, the HTTP/2 preface of gRPC, or a TLS handshake record), and the server side of
// TLS handshakes, whose ALPN then chooses between krpc and gRPC.
#include <boost/asio/ssl/stream.hpp>

#include <sys/socket.h>

#include <algorithm>

#include "grpc_server_connection.h"
#include "krpc/net/tls_context.h"
#include "server_connection.h"
#include "server_impl.h"

namespace krpc {
namespace asio = boost::asio;
using node::GrpcServerConnection;
using node::Protocol;
using node::ServerConnection;

namespace {
constexpr char kTlsHandshakeRecord = 0x16;  // a TLS record of type handshake (the ClientHello)
}  // namespace

Status Server::Impl::ConfigureSecurity() {
  auto& o = shared->options;
  if (Status s = authz.Parse(o.authz_allow, o.authz_default == "deny", shared->methods); !s.ok()) return s;
  authz.Apply(shared->methods);
  if (o.tls_mode == "disabled") return Status::Ok();
  net::TlsContext::Config config;
  config.role = net::TlsContext::Role::kServer;
  config.files = o.tls;
  config.client_auth = o.tls_client_auth == "require"   ? net::TlsContext::ClientAuth::kRequire
                       : o.tls_client_auth == "request" ? net::TlsContext::ClientAuth::kRequest
                                                        : net::TlsContext::ClientAuth::kNone;
  config.alpn = {"h2", "krpc"};
  auto ctx = net::TlsContext::Create(std::move(config));
  if (!ctx.ok()) return ctx.status();
  shared->tls = std::move(ctx).value();
  shared->tls_strict = o.tls_mode == "strict";
  return Status::Ok();
}

void Server::Impl::Accept() {
  try {
    acceptor->async_accept(shared->pool->Next(),
                           [this](const boost::system::error_code& ec, asio::ip::tcp::socket socket) {
                             OnAccept(ec, std::move(socket));
                           });
  } catch (const boost::system::system_error& e) {
    // Starting the operation can fail too (out of memory or descriptors); an exception here
    // would end accepting for good, so it backs off and retries like a failed accept.
    OnAcceptError(e.code());
  }
}

void Server::Impl::OnAcceptError(const boost::system::error_code& ec) {
  shared->accept_errors.fetch_add(1, std::memory_order_relaxed);
  accept_backoff = std::clamp(accept_backoff * 2, std::chrono::milliseconds(5), std::chrono::milliseconds(1000));
  uint64_t suppressed = 0;
  if (shared->error_log_limit.Allow(&suppressed)) {
    shared->log->warn("accept failed: {}; retrying in {} ms{}", ec.message(), accept_backoff.count(),
                      suppressed ? fmt::format(" [{} similar messages suppressed]", suppressed) : "");
  }
  accept_retry->expires_after(accept_backoff);
  accept_retry->async_wait([this](const boost::system::error_code& wait_ec) {
    if (!wait_ec && acceptor->is_open()) Accept();
  });
}

void Server::Impl::OnAccept(const boost::system::error_code& ec, asio::ip::tcp::socket socket) {
  if (ec == asio::error::operation_aborted || !acceptor->is_open()) return;
  if (ec) {
    // Out of descriptors and the like: back off (a busy loop would burn a core and flood logs).
    OnAcceptError(ec);
    return;
  } else {
    accept_backoff = std::chrono::milliseconds(0);
    const bool over = shared->connections_open.fetch_add(1) >= shared->options.max_connections;
    if (over) shared->connections_rejected.fetch_add(1);
    shared->connections_accepted.fetch_add(1);
    auto s = std::make_shared<asio::ip::tcp::socket>(std::move(socket));
    asio::post(s->get_executor(), [this, s, over] { Sniff(s, over); });
  }
  Accept();
}

// On the socket's loop: waits for the connection's first byte, which names its protocol
// ("K": krpc, "P": the HTTP/2 preface of gRPC, 0x16: a TLS ClientHello), without consuming
// it. A peer that sends nothing within the idle limit is closed.
void Server::Impl::Sniff(std::shared_ptr<asio::ip::tcp::socket> socket, bool over) {
  auto timer = std::make_shared<asio::steady_timer>(socket->get_executor(), shared->IdleLimit());
  timer->async_wait([socket, shared = shared](const boost::system::error_code& ec) {
    if (ec) return;
    shared->idle_closed.fetch_add(1, std::memory_order_relaxed);
    boost::system::error_code ignored;
    socket->close(ignored);  // wakes the wait below with an error
  });
  socket->async_wait(asio::socket_base::wait_read, [this, socket, timer, over, shared = shared](
                                                       const boost::system::error_code& ec) {
    timer->cancel();
    if (ec || !shared->LoopsRunning()) return Abandon();
    OnFirstByte(std::move(*socket), over);
  });
}

void Server::Impl::OnFirstByte(asio::ip::tcp::socket socket, bool over) {
  char first = 0;
  const auto n = ::recv(socket.native_handle(), &first, 1, MSG_PEEK);
  if (n <= 0) return Abandon();  // closed (or failed) before sending anything
  if (first == kTlsHandshakeRecord && shared->tls) return HandshakeTls(std::move(socket), over);
  const Protocol protocol = first == 'P' ? Protocol::kGrpc : Protocol::kKrpc;
  if (shared->tls_strict) {
    // Strict TLS: a plaintext client gets a GOAWAY in its protocol saying TLS is required (and
    // nothing else), then the connection closes.
    shared->tls_failures.fetch_add(1, std::memory_order_relaxed);
    shared->observer->OnTlsHandshake("plaintext_refused");
    uint64_t suppressed = 0;
    if (shared->error_log_limit.Allow(&suppressed)) {
      shared->log->warn("refused a plaintext connection from {} (tls_mode=strict){}", node::PeerAddress(socket),
                        suppressed ? fmt::format(" [{} similar messages suppressed]", suppressed) : "");
    }
    return Adopt(net::Stream(std::move(socket)), protocol, node::Refusal::kTlsRequired);
  }
  Adopt(net::Stream(std::move(socket)), protocol, over ? node::Refusal::kConnectionLimit : node::Refusal::kNone);
}

void Server::Impl::HandshakeTls(asio::ip::tcp::socket socket, bool over) {
  struct Handshake {
    net::Stream stream;
    asio::steady_timer timer;
    std::string peer;
  };
  auto executor = socket.get_executor();
  auto h = std::make_shared<Handshake>(Handshake{net::Stream(std::move(socket)), asio::steady_timer(executor), ""});
  h->peer = node::PeerAddress(h->stream.socket());
  h->stream.Configure();
  h->stream.StartTls(shared->tls->Get());
  // A handshake once begun must finish like a frame does (frame_timeout_ms).
  h->timer.expires_after(std::chrono::milliseconds(shared->options.frame_timeout_ms));
  h->timer.async_wait([h](const boost::system::error_code& ec) {
    if (ec) return;
    boost::system::error_code ignored;
    h->stream.socket().close(ignored);  // fails the handshake below
  });
  h->stream.AsyncHandshake(asio::ssl::stream_base::server, [this, h, over, shared = shared](const boost::system::error_code& ec) {
    h->timer.cancel();
    if (!shared->LoopsRunning()) return Abandon();
    if (ec) {
      const auto failure = net::DescribeTlsFailure(h->stream.ssl(), ec);
      shared->tls_failures.fetch_add(1, std::memory_order_relaxed);
      shared->observer->OnTlsHandshake(failure.reason);
      uint64_t suppressed = 0;
      if (shared->error_log_limit.Allow(&suppressed)) {
        shared->log->warn("TLS handshake with {} failed ({}): {}{}", h->peer, failure.reason, failure.message,
                          suppressed ? fmt::format(" [{} similar messages suppressed]", suppressed) : "");
      }
      h->stream.Close();
      return Abandon();
    }
    shared->tls_handshakes.fetch_add(1, std::memory_order_relaxed);
    shared->observer->OnTlsHandshake("ok");
    const bool h2 = net::NegotiatedAlpn(h->stream.ssl()) == "h2";
    Adopt(std::move(h->stream), h2 ? Protocol::kGrpc : Protocol::kKrpc,
          over ? node::Refusal::kConnectionLimit : node::Refusal::kNone);
  });
}

void Server::Impl::Adopt(net::Stream stream, Protocol protocol, node::Refusal refusal) {
  std::shared_ptr<GrpcServerConnection> grpc_conn;
  std::shared_ptr<ServerConnection> krpc_conn;
  {
    std::lock_guard lock(mu);
    const uint64_t id = next_conn_id++;
    if (protocol == Protocol::kGrpc) {
      grpc_conn = std::make_shared<GrpcServerConnection>(std::move(stream), shared, id);
      conns.emplace(id, grpc_conn);
    } else {
      krpc_conn = std::make_shared<ServerConnection>(std::move(stream), shared, id);
      conns.emplace(id, krpc_conn);
    }
    if (conns.size() > 64 && conns.size() % 64 == 0) {
      std::erase_if(conns, [](const auto& kv) { return kv.second.expired(); });
    }
  }
  if (grpc_conn) {
    grpc_conn->Start(refusal);
  } else {
    krpc_conn->Start(refusal);
  }
}

}  // namespace krpc
