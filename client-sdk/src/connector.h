// Connector: the connecting half of a client transport: resolve the endpoint's name, connect
// the stream (a SYN that got no answer is tried once more on a fresh socket), and for TLS the
// handshake with the client's checks of the server (its name, ALPN), all within
// connect_timeout_ms. It reports once to its owner: connected, or why not.
//
// Threading: the transport's I/O thread. Lifetime: a member of its transport; its pending
// operations hold the transport through Owner::ConnectorRef (an aliasing shared_ptr).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <memory>
#include <string>

#include "krpc/client_options.h"
#include "krpc/endpoint.h"
#include "krpc/net/stream.h"
#include "krpc/net/tls_context.h"
#include "krpc/status.h"

namespace krpc::impl {

class Connector {
 public:
  class Owner {
   public:
    // An owning reference to the owner's Connector (aliasing the owner).
    virtual std::shared_ptr<Connector> ConnectorRef() = 0;
    // The stream to connect (the owner's).
    virtual net::Stream& ConnectStream() = 0;
    // Once: OK when connected (and, with TLS, the handshake done), else why not.
    virtual void OnConnectDone(const Status& status) = 0;

   protected:
    ~Owner() = default;
  };

  Connector(Owner& owner, boost::asio::any_io_executor executor, const Endpoint& endpoint,
            const ConnectionOptions& options, std::shared_ptr<net::TlsContext> tls);
  void Start();
  // Stops a connect in progress without reporting (the owner is closing).
  void Cancel();
  // Why the TLS handshake failed ("unknown_ca", "name_mismatch", ...); empty if it did not.
  const std::string& tls_failure() const { return tls_failure_; }
  // Records a TLS failure seen after the handshake (TLS 1.3 refuses a client certificate on
  // the first read).
  void set_tls_failure(std::string reason) { tls_failure_ = std::move(reason); }

 private:
  void ArmTimer();
  void OnResolved(const boost::system::error_code& ec, boost::asio::ip::tcp::resolver::results_type results);
  void ConnectOnce();
  void OnTimeout();
  void OnConnected(const boost::system::error_code& ec);
  void StartTls();
  void OnHandshake(const boost::system::error_code& ec);
  void Report(const Status& status);

  Owner& owner_;  // the transport this is a member of (same lifetime)
  const Endpoint& endpoint_;          // the owner's
  const ConnectionOptions& options_;  // the owner's
  const std::string address_;
  std::shared_ptr<net::TlsContext> tls_;  // null: plaintext
  std::string tls_failure_;
  boost::asio::ip::tcp::resolver resolver_;
  boost::asio::steady_timer timer_;
  boost::asio::ip::tcp::resolver::results_type resolved_;
  // TCP connect attempts so far (a fresh socket each) and whether one completed; a connect
  // handler from an abandoned attempt carries an older number and is ignored.
  int tries_ = 0;
  bool tcp_connected_ = false;
  bool done_ = false;  // reported or cancelled: later events are ignored
};

}  // namespace krpc::impl
