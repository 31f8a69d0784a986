#include "server_listener.h"

#include <boost/asio/post.hpp>

#include <algorithm>
#include <future>

#include "incoming_connection.h"

namespace krpc::node {
namespace asio = boost::asio;

Listener::Listener(std::shared_ptr<ServerShared> shared, std::shared_ptr<ConnectionTable> table,
                   asio::ip::tcp::acceptor acceptor)
    : shared_(std::move(shared)),
      table_(std::move(table)),
      acceptor_(std::move(acceptor)),
      retry_(acceptor_.get_executor()),
      port_(acceptor_.local_endpoint().port()) {}

void Listener::Start() {
  asio::post(acceptor_.get_executor(), [self = shared_from_this()] { self->Accept(); });
}

void Listener::Stop() {
  std::promise<void> closed;
  asio::post(acceptor_.get_executor(), [self = shared_from_this(), &closed] {
    boost::system::error_code ignored;
    self->acceptor_.close(ignored);
    self->retry_.cancel();
    closed.set_value();
  });
  closed.get_future().wait();
}

void Listener::Accept() {
  try {
    acceptor_.async_accept(shared_->pool->Next(),
                           [self = shared_from_this()](const boost::system::error_code& ec, asio::ip::tcp::socket socket) {
                             self->OnAccept(ec, std::move(socket));
                           });
  } catch (const boost::system::system_error& e) {
    // Starting the operation can fail too (out of memory or descriptors); an exception here
    // would end accepting for good, so it backs off and retries like a failed accept.
    OnAcceptError(e.code());
  }
}

void Listener::OnAcceptError(const boost::system::error_code& ec) {
  shared_->accept_errors.fetch_add(1, std::memory_order_relaxed);
  backoff_ = std::clamp(backoff_ * 2, std::chrono::milliseconds(5), std::chrono::milliseconds(1000));
  shared_->error_log.Warn("accept failed: {}; retrying in {} ms", ec.message(), backoff_.count());
  retry_.expires_after(backoff_);
  retry_.async_wait([self = shared_from_this()](const boost::system::error_code& wait_ec) {
    if (!wait_ec && self->acceptor_.is_open()) self->Accept();
  });
}

void Listener::OnAccept(const boost::system::error_code& ec, asio::ip::tcp::socket socket) {
  if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
  if (ec) {
    // Out of descriptors and the like: back off (a busy loop would burn a core and flood logs).
    return OnAcceptError(ec);
  }
  backoff_ = std::chrono::milliseconds(0);
  const bool over = shared_->connections_open.fetch_add(1) >= shared_->options.max_connections;
  if (over) shared_->connections_rejected.fetch_add(1);
  shared_->connections_accepted.fetch_add(1);
  shared_->observer->OnConnectionOpened();
  IncomingConnection::Start(shared_, table_, std::move(socket), over);
  Accept();
}

}  // namespace krpc::node
