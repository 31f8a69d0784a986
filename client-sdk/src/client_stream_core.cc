#include "client_stream_core.h"

#include <boost/asio/post.hpp>
#include <google/protobuf/message.h>

namespace krpc::impl {

void ClientStreamCore::Write(const google::protobuf::Message& message, std::function<void(bool)> done) {
  PendingWrite w;
  message.SerializeToString(&w.payload);  // now: the caller may reuse the message at once
  w.done = std::move(done);
  Enqueue(std::move(w));
}

void ClientStreamCore::WritesDone(std::function<void(bool)> done) {
  PendingWrite w;
  w.done = std::move(done);
  w.half_close = true;
  Enqueue(std::move(w));
}

void ClientStreamCore::Enqueue(PendingWrite w) {
  std::lock_guard lock(mu_);
  if (ended_) return Deliver(std::move(w.done), false);
  writes_.push_back(std::move(w));
  if (attached_) PostToLoop([self = shared_from_this()] { self->PumpWrites(); });
}

void ClientStreamCore::PostToLoop(std::function<void()> fn) { boost::asio::post(*executor_, std::move(fn)); }

void ClientStreamCore::PumpWrites() {
  std::lock_guard lock(mu_);
  auto wire = wire_.lock();
  while (!writes_.empty() && !write_waiting_ && attached_ && wire) {
    PendingWrite w = std::move(writes_.front());
    writes_.pop_front();
    const bool ok = w.half_close ? wire->CloseSend(stream_id_) : wire->SendStreamMessage(stream_id_, w.payload);
    if (ok && !w.half_close) committed_.store(true, std::memory_order_release);
    if (ok && !w.half_close && wire->StreamUnsent(stream_id_) > kSendBuffer) {
      write_waiting_ = std::move(w.done);  // OnProgress completes it
      break;
    }
    Deliver(std::move(w.done), ok);
  }
}

void ClientStreamCore::OnProgress() {
  std::lock_guard lock(mu_);
  auto wire = wire_.lock();
  if (!write_waiting_ || !wire || wire->StreamUnsent(stream_id_) > kSendBuffer) return;
  Deliver(std::exchange(write_waiting_, nullptr), true);
  PostToLoop([self = shared_from_this()] { self->PumpWrites(); });  // not inside nghttp2's send loop
}

void ClientStreamCore::Read(google::protobuf::Message* into, std::function<void(bool)> done) {
  std::lock_guard lock(mu_);
  if (read_done_) return Deliver(std::move(done), false);  // one read at a time
  read_into_ = into;
  read_done_ = std::move(done);
  if (attached_) {
    PostToLoop([self = shared_from_this()] { self->ServeRead(); });
  } else {
    ServeRead();
  }
}

void ClientStreamCore::ServeRead() {
  std::lock_guard lock(mu_);
  if (!read_done_) return;
  bool ok = false;
  if (!inbound_.empty()) {
    Inbound m = std::move(inbound_.front());
    inbound_.pop_front();
    if (auto wire = wire_.lock(); wire && attached_) wire->StreamConsumed(stream_id_, m.window_bytes);
    ok = read_into_->ParseFromString(m.payload);
    if (!ok && cancel_call) cancel_call();  // a message the method's type cannot hold
  } else if (!ended_) {
    return;  // waits for a message or the end
  }
  read_into_ = nullptr;
  Deliver(std::exchange(read_done_, nullptr), ok);
}

void ClientStreamCore::Finish(std::function<void(const Status&)> done) {
  std::lock_guard lock(mu_);
  if (!ended_) {
    finish_done_ = std::move(done);
    return;
  }
  const Status st = status_;
  if (executor_) {
    boost::asio::post(*executor_, [done = std::move(done), st] { done(st); });
  } else {
    done(st);
  }
}

void ClientStreamCore::Cancel() {
  if (cancel_call) cancel_call();
}

void ClientStreamCore::Attach(std::weak_ptr<StreamWire> wire, boost::asio::any_io_executor executor, uint64_t stream_id) {
  std::lock_guard lock(mu_);
  wire_ = std::move(wire);
  executor_ = std::move(executor);
  stream_id_ = stream_id;
  attached_ = true;
  PumpWrites();
  ServeRead();
}

void ClientStreamCore::OnMessage(std::string payload, size_t window_bytes) {
  std::lock_guard lock(mu_);
  committed_.store(true, std::memory_order_release);
  inbound_.push_back({std::move(payload), window_bytes});
  ServeRead();
}

void ClientStreamCore::OnStreamEnded() {
  // The HTTP/2 stream is gone (its status reaches OnCallDone through the call; a retry may
  // attach the core to another stream): no more wire operations on it.
  std::lock_guard lock(mu_);
  attached_ = false;
  wire_.reset();
}

size_t ClientStreamCore::queued() const {
  std::lock_guard lock(mu_);
  return inbound_.size();
}

void ClientStreamCore::OnCallDone(const Status& status) {
  std::lock_guard lock(mu_);
  ended_ = true;
  attached_ = false;
  wire_.reset();
  status_ = status;
  for (auto& w : std::exchange(writes_, {})) Deliver(std::move(w.done), false);
  if (write_waiting_) Deliver(std::exchange(write_waiting_, nullptr), false);
  ServeRead();  // what arrived is still read; then false
  if (finish_done_) {
    auto done = std::exchange(finish_done_, nullptr);
    if (executor_) {
      boost::asio::post(*executor_, [done = std::move(done), status] { done(status); });
    } else {
      done(status);
    }
  }
}

void ClientStreamCore::Deliver(std::function<void(bool)> done, bool ok) {
  if (!done) return;
  if (executor_) {
    boost::asio::post(*executor_, [done = std::move(done), ok] { done(ok); });
  } else {
    done(ok);  // never reached an endpoint: on the thread that ended it
  }
}

}  // namespace krpc::impl
