#include "connector.h"

#include <boost/asio/connect.hpp>

#include "krpc/log.h"

namespace krpc::impl {
namespace asio = boost::asio;

namespace {
// TCP connect attempts within one Connect. Linux resends a SYN that got no answer only after
// 1 s, longer than the default connect timeout: a SYN lost once (packet loss, or on loopback a
// SYN dropped against a TIME_WAIT entry of the same ports) would fail the connect and every
// call waiting for it. A timed-out attempt is repeated once on a fresh socket (a new source
// port); a host that is really down costs two connect timeouts instead of one.
constexpr int kConnectTries = 2;
}  // namespace

Connector::Connector(Owner& owner, asio::any_io_executor executor, const Endpoint& endpoint,
                     const ConnectionOptions& options, std::shared_ptr<net::TlsContext> tls)
    : owner_(owner),
      endpoint_(endpoint),
      options_(options),
      address_(endpoint.ToString()),
      tls_(std::move(tls)),
      resolver_(executor),
      timer_(executor) {}

void Connector::Start() {
  resolver_.async_resolve(endpoint_.host, std::to_string(endpoint_.port),
                          [self = owner_.ConnectorRef()](const boost::system::error_code& ec,
                                                         asio::ip::tcp::resolver::results_type results) {
                            self->OnResolved(ec, std::move(results));
                          });
  ArmTimer();  // it covers the name lookup too
}

void Connector::Cancel() {
  done_ = true;
  resolver_.cancel();
  timer_.cancel();
}

void Connector::Report(const Status& status) {
  if (done_) return;
  done_ = true;
  timer_.cancel();
  owner_.OnConnectDone(status);
}

void Connector::ArmTimer() {
  timer_.expires_after(std::chrono::milliseconds(options_.connect_timeout_ms));
  timer_.async_wait([self = owner_.ConnectorRef()](const boost::system::error_code& ec) {
    if (!ec) self->OnTimeout();
  });
}

void Connector::OnResolved(const boost::system::error_code& ec, asio::ip::tcp::resolver::results_type results) {
  if (done_) return;
  if (ec) return Report(Status(StatusCode::kUnavailable, "cannot resolve " + endpoint_.host + ": " + ec.message()));
  resolved_ = std::move(results);
  ConnectOnce();
}

void Connector::ConnectOnce() {
  const int attempt = ++tries_;
  asio::async_connect(owner_.ConnectStream().socket(), resolved_,
                      [self = owner_.ConnectorRef(), attempt](const boost::system::error_code& ec,
                                                              const asio::ip::tcp::endpoint&) {
                        if (attempt != self->tries_) return;  // abandoned for a fresh socket
                        self->OnConnected(ec);
                      });
}

void Connector::OnTimeout() {
  if (done_) return;
  if (!tcp_connected_ && tries_ > 0 && tries_ < kConnectTries) {
    log::Get("client")->debug("connect to {}: no answer in {} ms; trying again on a fresh socket", address_,
                              options_.connect_timeout_ms);
    boost::system::error_code ignored;
    owner_.ConnectStream().socket().close(ignored);  // async_connect opens it again
    ConnectOnce();
    ArmTimer();
    return;
  }
  Report(Status(StatusCode::kUnavailable, "connect to " + address_ + " timed out after " +
                                              std::to_string(options_.connect_timeout_ms) + " ms" +
                                              (tries_ > 1 ? " (" + std::to_string(tries_) + " attempts)" : "")));
}

void Connector::OnConnected(const boost::system::error_code& ec) {
  if (done_) return;
  if (ec) return Report(Status(StatusCode::kUnavailable, "connect to " + address_ + " failed: " + ec.message()));
  tcp_connected_ = true;
  owner_.ConnectStream().Configure();
  if (tls_) return StartTls();  // the connect timeout covers the handshake too
  Report(Status::Ok());
}

void Connector::StartTls() {
  auto& stream = owner_.ConnectStream();
  stream.StartTls(tls_->Get());
  net::ConfigureClientSession(stream.ssl(), options_.tls_server_name.empty() ? endpoint_.host : options_.tls_server_name,
                              options_.protocol == WireProtocol::kGrpc ? "h2" : "krpc");
  stream.AsyncHandshake(asio::ssl::stream_base::client,
                        [self = owner_.ConnectorRef()](const boost::system::error_code& ec) { self->OnHandshake(ec); });
}

void Connector::OnHandshake(const boost::system::error_code& ec) {
  if (done_) return;
  if (ec) {
    const auto failure = net::DescribeTlsFailure(owner_.ConnectStream().ssl(), ec);
    tls_failure_ = failure.reason;
    return Report(Status(StatusCode::kUnavailable,
                         "TLS handshake with " + address_ + " failed (" + failure.reason + "): " + failure.message));
  }
  Report(Status::Ok());
}

}  // namespace krpc::impl
