#include "krpc/net/stream.h"

namespace krpc::net {
namespace asio = boost::asio;

size_t Stream::ReadTls(char* data, size_t capacity, boost::system::error_code& ec) {
  Tls& t = *tls_;
  size_t total = 0;
  ec.clear();
  while (total < capacity) {
    boost::system::error_code rec;
    const size_t n = t.session.Read(data + total, capacity - total, rec);
    if (n > 0) {
      total += n;
      continue;
    }
    // Nothing more now: would_block (the socket is drained), eof, or an error. After data,
    // the error is reported by the next read.
    if (total == 0) {
      ec = rec;
      t.buffered = false;
    } else {
      t.buffered = rec != asio::error::would_block;
    }
    break;
  }
  if (total == capacity) t.buffered = true;
  // Reads can produce records to send (a TLS 1.3 KeyUpdate answer): send them now unless a
  // write is under way, which sends them after its own.
  if (!t.writing && t.session.HasPendingOutput()) FlushTls([](const boost::system::error_code&) {});
  return total;
}

void Stream::FlushTls(std::function<void(const boost::system::error_code&)> handler) {
  Tls& t = *tls_;
  if (t.writing) {  // the write under way sends these records too (see below)
    asio::post(socket_.get_executor(), [h = std::move(handler)] { h({}); });
    return;
  }
  t.sending.clear();
  t.session.TakeOutput(t.sending);
  if (t.sending.size() == 0) {
    asio::post(socket_.get_executor(), [h = std::move(handler)] { h({}); });
    return;
  }
  t.writing = true;
  // The stream lives in the connection that `handler` keeps alive.
  asio::async_write(socket_, asio::buffer(t.sending.data(), t.sending.size()),
                    [this, h = std::move(handler)](const boost::system::error_code& ec, size_t) mutable {
                      tls_->writing = false;
                      if (!ec && tls_->session.HasPendingOutput()) return FlushTls(std::move(h));  // produced meanwhile
                      h(ec);
                    });
}

void Stream::HandshakeStep(std::function<void(const boost::system::error_code&)> handler) {
  boost::system::error_code ec;
  const auto progress = tls_->session.Handshake(ec);
  if (progress == TlsSession::Progress::kFailed) {
    // Send the alert that says why (best effort), then report.
    FlushTls([h = std::move(handler), ec](const boost::system::error_code&) { h(ec); });
    return;
  }
  FlushTls([this, progress, h = std::move(handler)](const boost::system::error_code& wec) mutable {
    if (wec) return h(wec);
    if (progress == TlsSession::Progress::kDone) {
      tls_->buffered = true;
      return h({});
    }
    socket_.async_wait(asio::ip::tcp::socket::wait_read, [this, h = std::move(h)](const boost::system::error_code& rec) mutable {
      if (rec) return h(rec);
      HandshakeStep(std::move(h));
    });
  });
}

}  // namespace krpc::net
