#include "krpc/net/stream.h"

#include <utility>

namespace krpc::net {
namespace asio = boost::asio;

size_t Stream::ReadTls(const std::shared_ptr<State>& s, char* data, size_t capacity, boost::system::error_code& ec) {
  Tls& t = *s->tls;
  size_t total = 0;
  ec.clear();
  while (total < capacity) {
    boost::system::error_code rec;
    const size_t n = t.session.Read(data + total, capacity - total, rec);
    if (n > 0) {
      total += n;
      // Nothing left inside the TLS layer: stop here rather than ask the socket again (that
      // read would almost always say would_block); bytes that arrive later wake the next wait.
      if (!t.session.HasBufferedInput()) {
        t.buffered = false;
        break;
      }
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
  if (!t.writing && t.session.HasPendingOutput()) FlushTls(s, [](const boost::system::error_code&) {});
  return total;
}

size_t Stream::TryWriteTls(const char* data, size_t size, boost::system::error_code& ec) {
  Tls& t = *s_->tls;
  ec.clear();
  if (t.writing || t.sent < t.sending.size()) {  // earlier records first
    ec = asio::error::would_block;
    return 0;
  }
  if (!t.session.Write(data, size, ec)) return 0;
  t.sending.clear();
  t.sent = 0;
  t.session.TakeOutput(t.sending);
  if (t.sending.size() > 0) {
    boost::system::error_code wec;
    t.sent = s_->socket.write_some(asio::buffer(t.sending.data(), t.sending.size()), wec);
    // A failed socket write leaves the records unsent for the AsyncWriteAll that follows.
  }
  return size;
}

void Stream::FlushTls(std::shared_ptr<State> s, Handler handler) {
  Tls& t = *s->tls;
  if (t.writing) {  // the write under way sends these records too (see below)
    asio::post(s->socket.get_executor(), [h = std::move(handler)] { h({}); });
    return;
  }
  if (t.sent >= t.sending.size()) {  // else records WriteNow left unsent go first
    t.sending.clear();
    t.sent = 0;
  }
  t.session.TakeOutput(t.sending);
  if (t.sending.size() == t.sent) {
    asio::post(s->socket.get_executor(), [h = std::move(handler)] { h({}); });
    return;
  }
  t.writing = true;
  const size_t from = std::exchange(t.sent, 0);
  auto& socket = s->socket;
  asio::async_write(socket, asio::buffer(t.sending.data() + from, t.sending.size() - from),
                    [s = std::move(s), h = std::move(handler)](const boost::system::error_code& ec, size_t) mutable {
                      Tls& t = *s->tls;
                      t.writing = false;
                      t.sending.clear();  // all of it was written (or the stream failed)
                      t.sent = 0;
                      if (!ec && t.session.HasPendingOutput()) return FlushTls(std::move(s), std::move(h));  // produced meanwhile
                      h(ec);
                    });
}

void Stream::HandshakeStep(std::shared_ptr<State> s, Handler handler) {
  boost::system::error_code ec;
  const auto progress = s->tls->session.Handshake(ec);
  if (progress == TlsSession::Progress::kFailed) {
    // Send the alert that says why (best effort), then report.
    FlushTls(std::move(s), [h = std::move(handler), ec](const boost::system::error_code&) { h(ec); });
    return;
  }
  auto keep = s;
  FlushTls(std::move(keep), [s = std::move(s), progress, h = std::move(handler)](const boost::system::error_code& wec) mutable {
    if (wec) return h(wec);
    if (progress == TlsSession::Progress::kDone) {
      s->tls->buffered = true;
      return h({});
    }
    auto& socket = s->socket;
    socket.async_wait(asio::ip::tcp::socket::wait_read, [s = std::move(s), h = std::move(h)](const boost::system::error_code& rec) mutable {
      if (rec) return h(rec);
      HandshakeStep(std::move(s), std::move(h));
    });
  });
}

}  // namespace krpc::net
