#include "krpc/admin_server.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <array>
#include <atomic>
#include <map>
#include <thread>

#include "krpc/config.h"
#include "krpc/log.h"

namespace krpc {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

void AdminOptions::Register(OptionSet& o) {
  o.AddString("admin_host", &host, "address the HTTP admin port binds to");
  o.AddPort("admin_port", &port, "HTTP admin port (/metrics, /healthz, /readyz, /status)");
  o.AddBool("admin_enabled", &enabled, "serve the HTTP admin port");
}

namespace {
class Session;
}  // namespace

struct AdminServer::Impl : std::enable_shared_from_this<AdminServer::Impl> {
  AdminOptions options;
  asio::io_context io{1};
  tcp::acceptor acceptor{io};
  std::thread thread;
  std::map<std::pair<std::string, std::string>, Handler> routes;
  std::atomic<uint64_t> bad_requests{0};
  uint16_t port = 0;
  log::RateLimiter log_limit{5};
  std::vector<std::weak_ptr<Session>> sessions;  // I/O thread only; closed on Stop()

  void Accept();
  HttpResponse Route(const HttpRequest& req);
};

namespace {

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, std::shared_ptr<AdminServer::Impl> server)
      : stream_(std::move(socket)), server_(std::move(server)) {}

  void Read() {
    parser_.emplace();
    parser_->header_limit(8 * 1024);
    parser_->body_limit(server_->options.max_body_bytes);
    stream_.expires_after(std::chrono::milliseconds(server_->options.request_timeout_ms));
    http::async_read(stream_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, size_t) {
      self->OnRead(ec);
    });
  }

 private:
  void OnRead(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == beast::error::timeout || ec == asio::error::eof ||
        ec == asio::error::connection_reset) {
      Close();
      return;
    }
    if (ec) {
      server_->bad_requests.fetch_add(1);
      uint64_t suppressed = 0;
      if (server_->log_limit.Allow(&suppressed)) log::Get("admin")->warn("bad HTTP request: {}", ec.message());
      http::response<http::string_body> res{http::status::bad_request, 11};
      res.set(http::field::content_type, "text/plain; charset=utf-8");
      res.set(http::field::connection, "close");
      res.body() = "bad request: " + ec.message() + "\n";
      res.prepare_payload();
      Write(std::move(res), true);
      return;
    }
    auto req = parser_->release();
    HttpRequest r;
    r.method = std::string(req.method_string());
    const std::string target(req.target());
    const auto q = target.find('?');
    r.path = target.substr(0, q);
    if (q != std::string::npos) r.query = target.substr(q + 1);
    r.body = std::move(req.body());
    HttpResponse out = server_->Route(r);
    http::response<http::string_body> res{static_cast<http::status>(out.status), req.version()};
    res.set(http::field::server, "krpc-admin");
    res.set(http::field::content_type, out.content_type);
    res.keep_alive(req.keep_alive());
    res.body() = std::move(out.body);
    res.prepare_payload();
    Write(std::move(res), !req.keep_alive());
  }

  void Write(http::response<http::string_body> res, bool close) {
    auto sp = std::make_shared<http::response<http::string_body>>(std::move(res));
    http::async_write(stream_, *sp, [self = shared_from_this(), sp, close](beast::error_code ec, size_t) {
      if (ec) {
        self->Close();
      } else if (close) {
        self->Linger();
      } else {
        self->Read();
      }
    });
  }

  // Stop sending, then discard what the client still sends for up to 1 s before closing:
  // closing with unread input would reset the connection and destroy the reply just written.
  void Linger() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.expires_after(std::chrono::seconds(1));
    Discard();
  }

  void Discard() {
    stream_.async_read_some(asio::buffer(discard_), [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec) {
        self->Close();
        return;
      }
      self->Discard();
    });
  }

  void Close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();  // also cancels the stream's timeout timer
  }

 public:
  void ForceClose() { Close(); }

 private:

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_{8 * 1024};
  std::array<char, 4096> discard_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::shared_ptr<AdminServer::Impl> server_;
};

}  // namespace

HttpResponse AdminServer::Impl::Route(const HttpRequest& req) {
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

void AdminServer::Impl::Accept() {
  acceptor.async_accept([self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !self->acceptor.is_open()) return;
    if (!ec) {
      auto session = std::make_shared<Session>(std::move(socket), self);
      std::erase_if(self->sessions, [](const auto& w) { return w.expired(); });
      self->sessions.push_back(session);
      session->Read();
    }
    self->Accept();
  });
}

AdminServer::AdminServer(AdminOptions options) : impl_(std::make_shared<Impl>()) { impl_->options = std::move(options); }

AdminServer::~AdminServer() { Stop(); }

void AdminServer::Handle(std::string method, std::string path, Handler handler) {
  impl_->routes[{std::move(method), std::move(path)}] = std::move(handler);
}

Status AdminServer::Start() {
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
  auto impl = impl_;
  impl_->thread = std::thread([impl] {
    pthread_setname_np(pthread_self(), "krpc-admin");
    impl->io.run();
  });
  log::Get("admin")->info("admin HTTP on {}:{}", impl_->options.host, impl_->port);
  return Status::Ok();
}

void AdminServer::Stop() {
  if (!impl_->thread.joinable()) return;
  asio::post(impl_->io, [impl = impl_] {
    beast::error_code ignored;
    impl->acceptor.close(ignored);
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

}  // namespace krpc
