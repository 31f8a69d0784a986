// LoopbackPair: two connected TCP sockets on 127.0.0.1, one for the code under test (`ours`,
// driven by `io`) and one the test drives by hand as the peer: it writes bytes (one at a time
// if it likes), reads what arrived without blocking, shrinks socket buffers to stall a writer,
// or resets the connection. RunUntil runs the I/O context until a condition holds; the bound is
// only a guard against a hang, never what a test measures.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>

#include <chrono>
#include <string>

#include "eventually.h"

namespace krpc::net::testing {

struct LoopbackPair {
  boost::asio::io_context io;
  boost::asio::ip::tcp::socket ours{io};
  boost::asio::io_context peer_io;
  boost::asio::ip::tcp::socket peer{peer_io};

  LoopbackPair() {
    using boost::asio::ip::tcp;
    tcp::acceptor acceptor(peer_io, tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
    ours.connect(acceptor.local_endpoint());
    acceptor.accept(peer);
    peer.non_blocking(true);
  }

  void WritePeer(const std::string& bytes) {
    peer.non_blocking(false);
    boost::asio::write(peer, boost::asio::buffer(bytes));
    peer.non_blocking(true);
  }
  // What has arrived at the peer so far (never blocks).
  std::string ReadPeerNow() {
    std::string out;
    char buf[65536];
    for (;;) {
      boost::system::error_code ec;
      const size_t n = peer.read_some(boost::asio::buffer(buf), ec);
      if (ec || n == 0) break;
      out.append(buf, n);
    }
    return out;
  }
  // Small kernel buffers on both sides, so a few hundred KiB stall a writer whose peer reads nothing.
  void ShrinkBuffers() {
    ours.set_option(boost::asio::socket_base::send_buffer_size(16 * 1024));
    peer.set_option(boost::asio::socket_base::receive_buffer_size(16 * 1024));
  }
  // Closes the peer with RST (SO_LINGER 0) instead of FIN.
  void ResetPeer() {
    peer.set_option(boost::asio::socket_base::linger(true, 0));
    peer.close();
  }
  template <typename Pred>
  bool RunUntil(Pred done) {
    return krpc::testing::RunUntil(io, std::move(done), [this] {
      peer_io.restart();
      peer_io.poll();  // when the peer's socket is driven by code under test too
    });
  }
};

}  // namespace krpc::net::testing
