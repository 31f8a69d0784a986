// The admin server's state (AdminServer::Impl) and one HTTP connection of it (Session): reads
// a request within limits, routes it, writes the answer, and closes on errors or Stop().
// Internal to observability/: admin_server.cc is its only user.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <array>
#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "krpc/admin_server.h"
#include "krpc/log.h"
#include "krpc/net/tls_context.h"

namespace krpc {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

// What Stop() needs of a session, whatever its stream.
class SessionBase {
 public:
  virtual ~SessionBase() = default;
  virtual void ForceClose() = 0;
};

struct AdminServer::Impl : std::enable_shared_from_this<AdminServer::Impl> {
  AdminOptions options;
  asio::io_context io{1};
  tcp::acceptor acceptor{io};
  std::thread thread;
  std::map<std::pair<std::string, std::string>, Handler> routes;
  std::atomic<uint64_t> bad_requests{0};
  std::atomic<uint64_t> unauthorized{0};
  std::string token;                          // required on /admin/* when not empty
  std::shared_ptr<net::TlsContext> tls;       // HTTPS when set
  uint16_t port = 0;
  log::LimitedLog log_limited{log::Get("admin"), 5};
  std::vector<std::weak_ptr<SessionBase>> sessions;  // I/O thread only; closed on Stop()
  struct Periodic {
    std::chrono::milliseconds period;
    std::function<void()> task;
    std::unique_ptr<asio::steady_timer> timer;  // I/O thread only once started
  };
  std::vector<Periodic> periodic;

  void Schedule(size_t i);

  void Accept();
  HttpResponse Route(const HttpRequest& req);
};

// One connection; Stream is beast::tcp_stream (HTTP) or an SSL stream over it (HTTPS).
template <typename Stream>
class Session : public SessionBase, public std::enable_shared_from_this<Session<Stream>> {
 public:
  template <typename... Args>
  Session(std::shared_ptr<AdminServer::Impl> server, Args&&... args)
      : stream_(std::forward<Args>(args)...), server_(std::move(server)) {}

  // HTTPS: the handshake first (bounded like a request).
  void Handshake() {
    Lowest().expires_after(std::chrono::milliseconds(server_->options.request_timeout_ms));
    stream_.async_handshake(asio::ssl::stream_base::server, [self = this->shared_from_this()](beast::error_code ec) {
      if (ec) return self->Close();
      self->Read();
    });
  }

  void Read() {
    parser_.emplace();
    parser_->header_limit(8 * 1024);
    parser_->body_limit(server_->options.max_body_bytes);
    Lowest().expires_after(std::chrono::milliseconds(server_->options.request_timeout_ms));
    http::async_read(stream_, buffer_, *parser_, [self = this->shared_from_this()](beast::error_code ec, size_t) {
      self->OnRead(ec);
    });
  }

 private:
  beast::tcp_stream& Lowest() { return beast::get_lowest_layer(stream_); }

  void OnRead(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == beast::error::timeout || ec == asio::error::eof ||
        ec == asio::error::connection_reset || ec == asio::ssl::error::stream_truncated) {
      Close();
      return;
    }
    if (ec) {
      server_->bad_requests.fetch_add(1);
      server_->log_limited.Warn("bad HTTP request: {}", ec.message());
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
    r.authorization = std::string(req[http::field::authorization]);
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
    http::async_write(stream_, *sp, [self = this->shared_from_this(), sp, close](beast::error_code ec, size_t) {
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
    Lowest().socket().shutdown(tcp::socket::shutdown_send, ignored);
    Lowest().expires_after(std::chrono::seconds(1));
    Discard();
  }

  void Discard() {
    Lowest().async_read_some(asio::buffer(discard_), [self = this->shared_from_this()](beast::error_code ec, size_t) {
      if (ec) {
        self->Close();
        return;
      }
      self->Discard();
    });
  }

  void Close() {
    beast::error_code ignored;
    Lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
    Lowest().close();  // also cancels the stream's timeout timer
  }

 public:
  void ForceClose() override { Close(); }

 private:
  Stream stream_;
  beast::flat_buffer buffer_{8 * 1024};
  std::array<char, 4096> discard_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::shared_ptr<AdminServer::Impl> server_;
};


}  // namespace krpc
