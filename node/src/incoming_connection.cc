#include "incoming_connection.h"

#include <boost/asio/post.hpp>
#include <boost/asio/ssl/stream.hpp>

#include <sys/socket.h>

#include "grpc_server_connection.h"
#include "krpc/net/tls_context.h"
#include "server_connection.h"

namespace krpc::node {
namespace asio = boost::asio;

namespace {
constexpr char kTlsHandshakeRecord = 0x16;  // a TLS record of type handshake (the ClientHello)
}  // namespace

void IncomingConnection::Start(std::shared_ptr<ServerShared> shared, std::shared_ptr<ConnectionTable> table,
                               asio::ip::tcp::socket socket, bool over) {
  auto executor = socket.get_executor();
  auto incoming = std::make_shared<IncomingConnection>(std::move(shared), std::move(table), std::move(socket), over);
  asio::post(executor, [incoming] { incoming->WaitFirstByte(); });
}

IncomingConnection::IncomingConnection(std::shared_ptr<ServerShared> shared, std::shared_ptr<ConnectionTable> table,
                                       asio::ip::tcp::socket socket, bool over)
    : shared_(std::move(shared)),
      table_(std::move(table)),
      stream_(std::move(socket)),
      timer_(stream_.socket().get_executor()),
      over_(over) {}

void IncomingConnection::WaitFirstByte() {
  timer_.expires_after(shared_->IdleLimit());
  timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (ec || self->first_byte_seen_) return;  // a timer that fired as the byte came is late
    self->timed_out_ = true;
    self->Abandon(ServerShared::kIdleClose);  // closing wakes the wait below with an error
  });
  stream_.socket().async_wait(asio::socket_base::wait_read, [self = shared_from_this()](const boost::system::error_code& ec) {
    self->timer_.cancel();
    if (self->timed_out_) return;  // counted and closed by the timer
    self->first_byte_seen_ = true;
    if (ec || !self->shared_->LoopsRunning()) return self->Abandon("server stopped");
    self->OnFirstByte();
  });
}

void IncomingConnection::OnFirstByte() {
  char first = 0;
  const auto n = ::recv(stream_.socket().native_handle(), &first, 1, MSG_PEEK);
  if (n <= 0) return Abandon("peer closed");  // closed (or failed) before sending anything
  if (first == kTlsHandshakeRecord && shared_->tls) return HandshakeTls();
  const Protocol protocol = first == 'P' ? Protocol::kGrpc : Protocol::kKrpc;
  if (shared_->tls_strict) {
    // Strict TLS: a plaintext client gets a GOAWAY in its protocol saying TLS is required (and
    // nothing else), then the connection closes.
    shared_->tls_failures.fetch_add(1, std::memory_order_relaxed);
    shared_->observer->OnTlsHandshake("plaintext_refused");
    shared_->error_log.Warn("refused a plaintext connection from {} (tls_mode=strict)", PeerAddress(stream_.socket()));
    return Adopt(protocol, Refusal::kTlsRequired);
  }
  Adopt(protocol, over_ ? Refusal::kConnectionLimit : Refusal::kNone);
}

void IncomingConnection::HandshakeTls() {
  peer_ = PeerAddress(stream_.socket());
  stream_.Configure();
  stream_.StartTls(shared_->tls->Get());
  // A handshake once begun must finish like a frame does (frame_timeout_ms).
  timer_.expires_after(std::chrono::milliseconds(shared_->options.frame_timeout_ms));
  timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (ec) return;
    boost::system::error_code ignored;
    self->stream_.socket().close(ignored);  // fails the handshake below
  });
  stream_.AsyncHandshake(asio::ssl::stream_base::server, [self = shared_from_this()](const boost::system::error_code& ec) {
    self->timer_.cancel();
    auto& shared = *self->shared_;
    if (!shared.LoopsRunning()) return self->Abandon("server stopped");
    if (ec) {
      const auto failure = net::DescribeTlsFailure(self->stream_.ssl(), ec);
      shared.tls_failures.fetch_add(1, std::memory_order_relaxed);
      shared.observer->OnTlsHandshake(failure.reason);
      shared.error_log.Warn("TLS handshake with {} failed ({}): {}", self->peer_, failure.reason, failure.message);
      return self->Abandon("tls_handshake");
    }
    shared.tls_handshakes.fetch_add(1, std::memory_order_relaxed);
    shared.observer->OnTlsHandshake("ok");
    const bool h2 = net::NegotiatedAlpn(self->stream_.ssl()) == "h2";
    self->Adopt(h2 ? Protocol::kGrpc : Protocol::kKrpc, self->over_ ? Refusal::kConnectionLimit : Refusal::kNone);
  });
}

void IncomingConnection::Adopt(Protocol protocol, Refusal refusal) {
  const uint64_t id = table_->NextId();
  std::shared_ptr<CallHost> conn;
  if (protocol == Protocol::kGrpc) {
    conn = std::make_shared<GrpcServerConnection>(std::move(stream_), shared_, id);
  } else {
    conn = std::make_shared<ServerConnection>(std::move(stream_), shared_, id);
  }
  table_->Add(id, conn);
  conn->Start(refusal);
}

void IncomingConnection::Abandon(std::string_view reason) {
  shared_->ConnectionClosed(reason);  // counted before the peer can see the close
  stream_.Close();
}

}  // namespace krpc::node
