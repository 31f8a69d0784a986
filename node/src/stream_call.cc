#include "stream_call.h"

#include <google/protobuf/message.h>

#include "call_host.h"
#include "krpc/impl/thread_check.h"
#include "server_call.h"

namespace krpc::node {

StreamCall::StreamCall(std::shared_ptr<CallHost> host, ServerCall* call)
    : host_(std::move(host)), call_(call), call_id_(call->call_id()) {
  call_->AddRef();
  host_->shared().streams_open.fetch_add(1, std::memory_order_relaxed);
}

StreamCall::~StreamCall() {
  host_->shared().streams_open.fetch_sub(1, std::memory_order_relaxed);
  if (write_waiting_) host_->shared().stream_writes_waiting.fetch_sub(1, std::memory_order_relaxed);
  call_->Release();
}

template <typename F>
void StreamCall::Post(F&& f) {
  host_->Post(std::forward<F>(f));
}

ServerController& StreamCall::controller() { return *call_; }

void StreamCall::Read(google::protobuf::Message* into, std::function<void(bool)> done) {
  Post([self = shared_from_this(), into, done = std::move(done)]() mutable { self->DoRead(into, std::move(done)); });
}

void StreamCall::Write(const google::protobuf::Message& message, std::function<void(bool)> done) {
  std::string payload;
  message.SerializeToString(&payload);  // now: the caller may reuse the message at once
  Post([self = shared_from_this(), payload = std::move(payload), done = std::move(done)]() mutable {
    self->DoWrite(std::move(payload), std::move(done));
  });
}

void StreamCall::Finish(Status status) {
  Post([self = shared_from_this(), status = std::move(status)]() mutable { self->DoFinish(std::move(status)); });
}

void StreamCall::Start() {
  KRPC_ASSERT_IN_LOOP(host_->InLoop());
  if (call_->deadline() == ServerController::Clock::time_point::max()) return;
  deadline_timer_.emplace(host_->executor(), call_->deadline());
  deadline_timer_->async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
    auto self = weak.lock();
    if (ec || !self || self->finished_ || self->ended_) return;
    self->EndEarly(Status(StatusCode::kDeadlineExceeded, "the stream's deadline passed"));
  });
}

void StreamCall::DoRead(google::protobuf::Message* into, std::function<void(bool)> done) {
  KRPC_ASSERT_IN_LOOP(host_->InLoop());
  if (read_done_) {  // a second outstanding read: a handler bug, refused
    Post([done = std::move(done)] { done(false); });
    return;
  }
  read_into_ = into;
  read_done_ = std::move(done);
  ServeRead();
}

void StreamCall::ServeRead() {
  if (!read_done_) return;
  bool ok = false;
  if (!inbound_.empty() && !ended_) {
    Inbound m = std::move(inbound_.front());
    inbound_.pop_front();
    host_->StreamConsumed(call_id_, m.wire_bytes, m.window_bytes);  // the client may send as much again
    ok = read_into_->ParseFromString(m.payload);
    if (!ok) EndEarly(Status(StatusCode::kInvalidArgument, "cannot parse a message as " + read_into_->GetTypeName()));
  } else if (!half_closed_ && !ended_) {
    return;  // waits for the next message
  }
  read_into_ = nullptr;
  Post([done = std::exchange(read_done_, nullptr), ok] { done(ok); });
}

void StreamCall::DoWrite(std::string payload, std::function<void(bool)> done) {
  KRPC_ASSERT_IN_LOOP(host_->InLoop());
  if (write_done_ || ended_ || finished_) {
    Post([done = std::move(done)] { done(false); });
    return;
  }
  const Status st = host_->SendStreamMessage(call_id_, payload);
  if (!st.ok()) {
    if (st.code() != StatusCode::kCancelled) EndEarly(st);
    Post([done = std::move(done)] { done(false); });
    return;
  }
  host_->shared().stream_messages_sent.fetch_add(1, std::memory_order_relaxed);
  write_done_ = std::move(done);
  ServeWrite();
}

void StreamCall::ServeWrite() {
  if (!write_done_) return;
  const bool ok = !ended_;
  const bool wait = ok && host_->StreamUnsent(call_id_) > kSendBuffer;  // OnProgress comes back
  if (wait != write_waiting_) {
    write_waiting_ = wait;
    host_->shared().stream_writes_waiting.fetch_add(wait ? 1 : -1, std::memory_order_relaxed);
  }
  if (wait) return;
  Post([done = std::exchange(write_done_, nullptr), ok] { done(ok); });
}

void StreamCall::OnProgress() { ServeWrite(); }

void StreamCall::DoFinish(Status status) {
  KRPC_ASSERT_IN_LOOP(host_->InLoop());
  if (finished_) return;
  finished_ = true;
  if (deadline_timer_) deadline_timer_->cancel();
  if (!status.ok() && call_->status().ok()) call_->SetStatus(status.code(), std::string(status.message()));
  // Runs `done`: on this thread, the connection completes the call now (the trailers go out
  // unless the call already ended).
  call_->Run();
  OnEnded();
}

void StreamCall::OnMessage(std::string payload, size_t wire_bytes, size_t window_bytes) {
  KRPC_ASSERT_IN_LOOP(host_->InLoop());
  if (ended_) {
    host_->StreamConsumed(call_id_, wire_bytes, window_bytes);
    return;
  }
  host_->shared().stream_messages_received.fetch_add(1, std::memory_order_relaxed);
  inbound_.push_back({std::move(payload), wire_bytes, window_bytes});
  ServeRead();
}

void StreamCall::OnHalfClose() {
  half_closed_ = true;
  ServeRead();
}

void StreamCall::OnEnded() {
  if (ended_) return;
  ended_ = true;
  if (deadline_timer_) deadline_timer_->cancel();
  for (const Inbound& m : inbound_) host_->StreamConsumed(call_id_, m.wire_bytes, m.window_bytes);
  inbound_.clear();
  ServeRead();
  ServeWrite();
}

void StreamCall::EndEarly(Status status) {
  if (ended_) return;
  host_->EndStream(call_id_, status);  // the status now; the handler sees a cancel
  OnEnded();
}

}  // namespace krpc::node
