#include "krpc/admin_server.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <openssl/crypto.h>

#include <array>
#include <atomic>
#include <map>
#include <thread>

#include <fstream>
#include <sstream>

#include "admin_session.h"
#include "krpc/config.h"
#include "krpc/log.h"
#include "krpc/net/tls_context.h"

namespace krpc {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

void AdminOptions::Register(OptionSet& o) {
  o.AddString("admin_host", &host, "address the HTTP admin port binds to");
  o.AddPort("admin_port", &port, "HTTP admin port (/metrics, /healthz, /readyz, /status)");
  o.AddBool("admin_enabled", &enabled, "serve the HTTP admin port");
  o.AddString("admin_token_file", &token_file, "file holding the bearer token required on /admin/* (empty: no token)");
  o.AddString("admin_tls_cert_file", &tls_cert_file, "serve the admin port over HTTPS with this PEM certificate");
  o.AddString("admin_tls_key_file", &tls_key_file, "PEM key of admin_tls_cert_file");
}

HttpResponse AdminServer::Impl::Route(const HttpRequest& req) {
  if (!token.empty() && req.path.starts_with("/admin/")) {
    const std::string expected = "Bearer " + token;
    if (req.authorization.size() != expected.size() ||
        CRYPTO_memcmp(req.authorization.data(), expected.data(), expected.size()) != 0) {
      unauthorized.fetch_add(1);
      log_limited.Warn("refused {} {}: {} bearer token", req.method, req.path,
                       req.authorization.empty() ? "no" : "wrong");
      return {401, "text/plain; charset=utf-8", "unauthorized: /admin/* needs 'Authorization: Bearer <token>'\n"};
    }
  }
  auto it = routes.find({req.method, req.path});
  if (it != routes.end()) {
    try {
      return it->second(req);
    } catch (const std::exception& e) {
      return {500, "text/plain; charset=utf-8", std::string("internal error: ") + e.what() + "\n"};
    }
  }
  for (const auto& [key, h] : routes) {
    if (key.second == req.path) return {405, "text/plain; charset=utf-8", "method not allowed\n"};
  }
  return {404, "text/plain; charset=utf-8", "not found\n"};
}

void AdminServer::Impl::Schedule(size_t i) {
  auto& p = periodic[i];
  p.timer->expires_after(p.period);
  p.timer->async_wait([weak = weak_from_this(), i](const beast::error_code& ec) {
    auto self = weak.lock();
    if (ec || !self) return;
    try {
      self->periodic[i].task();
    } catch (const std::exception& e) {
      log::Get("admin")->warn("periodic admin task failed: {}", e.what());
    }
    self->Schedule(i);
  });
}

void AdminServer::Impl::Accept() {
  acceptor.async_accept([self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !self->acceptor.is_open()) return;
    if (!ec) {
      std::erase_if(self->sessions, [](const auto& w) { return w.expired(); });
      if (self->tls) {
        auto session = std::make_shared<Session<beast::ssl_stream<beast::tcp_stream>>>(self, std::move(socket),
                                                                                      *self->tls->Get());
        self->sessions.push_back(session);
        session->Handshake();
      } else {
        auto session = std::make_shared<Session<beast::tcp_stream>>(self, std::move(socket));
        self->sessions.push_back(session);
        session->Read();
      }
    }
    self->Accept();
  });
}

AdminServer::AdminServer(AdminOptions options) : impl_(std::make_shared<Impl>()) { impl_->options = std::move(options); }

AdminServer::~AdminServer() { Stop(); }

void AdminServer::Handle(std::string method, std::string path, Handler handler) {
  impl_->routes[{std::move(method), std::move(path)}] = std::move(handler);
}

void AdminServer::Every(std::chrono::milliseconds period, std::function<void()> task) {
  impl_->periodic.push_back({period, std::move(task), std::make_unique<asio::steady_timer>(impl_->io)});
}

Status AdminServer::Start() {
  if (!impl_->options.token_file.empty()) {
    std::ifstream in(impl_->options.token_file);
    std::stringstream text;
    text << in.rdbuf();
    std::string token = text.str();
    while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' ')) token.pop_back();
    if (!in || token.empty()) {
      return {StatusCode::kInvalidArgument,
              "bad value for 'admin_token_file': '" + impl_->options.token_file + "' is missing, unreadable or empty"};
    }
    impl_->token = std::move(token);
  }
  if (!impl_->options.tls_cert_file.empty() || !impl_->options.tls_key_file.empty()) {
    net::TlsContext::Config config;
    config.role = net::TlsContext::Role::kServer;
    config.files.cert_file = impl_->options.tls_cert_file;
    config.files.key_file = impl_->options.tls_key_file;
    config.files.min_version = TlsVersion::k1_2;  // browsers and scrapers
    auto ctx = net::TlsContext::Create(std::move(config));
    if (!ctx.ok()) {
      std::string msg = ctx.status().message();
      for (const char* key : {"tls_cert_file", "tls_key_file"}) {  // name the admin keys
        if (auto at = msg.find(std::string("'") + key + "'"); at != std::string::npos) msg.insert(at + 1, "admin_");
      }
      return {StatusCode::kInvalidArgument, msg};
    }
    impl_->tls = std::move(ctx).value();
  }
  beast::error_code ec;
  const auto address = asio::ip::make_address(impl_->options.host, ec);
  if (ec) return {StatusCode::kInvalidArgument, "admin_host '" + impl_->options.host + "' is not an IP address"};
  const tcp::endpoint ep(address, impl_->options.port);
  impl_->acceptor.open(ep.protocol(), ec);
  if (!ec) impl_->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) impl_->acceptor.bind(ep, ec);
  if (!ec) impl_->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return {StatusCode::kUnavailable, "cannot listen on admin port " + impl_->options.host + ":" +
                                          std::to_string(impl_->options.port) + ": " + ec.message()};
  }
  impl_->port = impl_->acceptor.local_endpoint().port();
  impl_->Accept();
  for (size_t i = 0; i < impl_->periodic.size(); ++i) impl_->Schedule(i);
  auto impl = impl_;
  impl_->thread = std::thread([impl] {
    pthread_setname_np(pthread_self(), "krpc-admin");
    impl->io.run();
  });
  log::Get("admin")->info("admin {} on {}:{}{}", impl_->tls ? "HTTPS" : "HTTP", impl_->options.host, impl_->port,
                          impl_->token.empty() ? "" : " (/admin/* needs the bearer token)");
  return Status::Ok();
}

void AdminServer::Stop() {
  if (!impl_->thread.joinable()) return;
  asio::post(impl_->io, [impl = impl_] {
    beast::error_code ignored;
    impl->acceptor.close(ignored);
    for (auto& p : impl->periodic) p.timer->cancel();
    for (auto& w : impl->sessions) {
      if (auto s = w.lock()) s->ForceClose();
    }
    impl->io.stop();
  });
  impl_->thread.join();
  // Run the aborted operations' handlers so the sessions (and their hold on Impl) are freed.
  impl_->io.restart();
  impl_->io.poll();
}

uint16_t AdminServer::port() const { return impl_->port; }
uint64_t AdminServer::bad_requests() const { return impl_->bad_requests.load(); }
uint64_t AdminServer::unauthorized() const { return impl_->unauthorized.load(); }

}  // namespace krpc
