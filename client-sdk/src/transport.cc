#include "transport.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>

#include "krpc/impl/io_pool.h"
#include "krpc/impl/thread_check.h"
#include "krpc/log.h"

namespace krpc::impl {
namespace asio = boost::asio;
using codec::DecodeStatus;
using codec::FrameType;

namespace {
constexpr auto kDeadlineGranularity = std::chrono::milliseconds(1);

std::shared_ptr<spdlog::logger>& Log() {
  static thread_local auto log = krpc::log::Get("client");
  return log;
}
}  // namespace

Transport::Transport(asio::any_io_executor executor, Endpoint endpoint, ConnectionOptions options,
                     std::weak_ptr<TransportListener> listener)
    : FramedConnection(asio::ip::tcp::socket(executor), codec::Limits{codec::kMaxHeaderBytes, options.max_body_bytes}),
      executor_(executor),
      loop_(&asio::query(executor, asio::execution::context)),
      endpoint_(std::move(endpoint)),
      options_(options),
      listener_(std::move(listener)),
      address_(endpoint_.ToString()),
      resolver_(executor),
      connect_timer_(executor),
      deadline_timer_(executor),
      heartbeat_timer_(executor) {}

Transport::~Transport() = default;

bool Transport::InLoop() const { return impl::CurrentLoop() == loop_; }

void Transport::Connect() {
  last_send_ = Clock::now();
  set_last_recv(last_send_);
  connect_timer_.expires_after(std::chrono::milliseconds(options_.connect_timeout_ms));
  connect_timer_.async_wait([self = self()](const boost::system::error_code& ec) {
    if (ec || self->state_ != State::kConnecting) return;
    self->Close(Status(StatusCode::kUnavailable, "connect to " + self->address_ + " timed out after " +
                                                    std::to_string(self->options_.connect_timeout_ms) + " ms"));
  });
  resolver_.async_resolve(endpoint_.host, std::to_string(endpoint_.port),
                          [self = self()](const boost::system::error_code& ec,
                                                      asio::ip::tcp::resolver::results_type results) {
                            self->OnResolved(ec, std::move(results));
                          });
}

void Transport::OnResolved(const boost::system::error_code& ec, asio::ip::tcp::resolver::results_type results) {
  if (state_ != State::kConnecting) return;
  if (ec) {
    Close(Status(StatusCode::kUnavailable, "cannot resolve " + endpoint_.host + ": " + ec.message()));
    return;
  }
  asio::async_connect(stream().socket(), results,
                      [self = self()](const boost::system::error_code& ec, const asio::ip::tcp::endpoint&) {
                        self->OnConnected(ec);
                      });
}

void Transport::OnConnected(const boost::system::error_code& ec) {
  if (state_ != State::kConnecting) return;
  if (ec) {
    Close(Status(StatusCode::kUnavailable, "connect to " + address_ + " failed: " + ec.message()));
    return;
  }
  connect_timer_.cancel();
  stream().Configure();
  state_ = State::kReady;
  was_ready_ = true;
  set_last_recv(Clock::now());
  if (auto l = listener_.lock()) l->OnTransportReady(this);
  StartReading();
  ArmHeartbeat();
  Flush();
}

void Transport::StartCall(Attempt* a) {
  KRPC_ASSERT_IN_LOOP(InLoop());
  const auto now = Clock::now();
  CallData* call = a->call;
  if (!accepting()) {
    a->Done(Status(StatusCode::kUnavailable, "connection to " + address_ + " is closing"), true);
    return;
  }
  if (a->deadline <= now) {
    a->Done(Status(StatusCode::kDeadlineExceeded, "deadline passed before sending"), true);
    return;
  }
  const size_t body = call->request->ByteSizeLong();
  if (body > options_.max_body_bytes) {
    a->Done(Status(StatusCode::kResourceExhausted, "request of " + std::to_string(body) +
                                                       " bytes exceeds max_body_bytes=" +
                                                       std::to_string(options_.max_body_bytes)),
            true);
    return;
  }
  const uint64_t id = calls_.Insert(a);
  if (!a->Attach(std::weak_ptr<Transport>(self()), id)) {  // cancelled on its way here
    calls_.Take(id);
    a->Done(Status(StatusCode::kCancelled, "call cancelled by the client"), true);
    return;
  }
  auto& h = scratch_request_;
  h.set_call_id(id);
  const auto* m = call->method;
  h.mutable_method()->assign("/").append(m->service()->full_name()).append("/").append(m->name());
  const bool has_deadline = a->deadline != Clock::time_point::max();
  h.set_timeout_us(has_deadline ? std::max<int64_t>(1, std::chrono::duration_cast<std::chrono::microseconds>(
                                                            a->deadline - now)
                                                            .count())
                                : 0);
  h.clear_metadata();
  for (const auto& [k, v] : call->metadata) (*h.mutable_metadata())[k] = v;
  if (const size_t header = h.ByteSizeLong(); header > codec::kMaxHeaderBytes) {
    // The channel checks metadata before the call starts; this guards what gets past it, so
    // that one call's metadata never makes the server close a connection others share.
    calls_.Take(id);
    a->Done(Status(StatusCode::kResourceExhausted, "request header of " + std::to_string(header) +
                                                       " bytes exceeds the 64 KiB header limit"),
            true);
    return;
  }
  codec::AppendFrame(out(), FrameType::kRequest, h, call->request);
  last_send_ = now;
  if (has_deadline) {
    deadlines_.push({a->deadline, id, false});
    ArmDeadline(a->deadline);
  }
  if (a->hedge_at < a->deadline) {
    deadlines_.push({a->hedge_at, id, true});
    ArmDeadline(a->hedge_at);
  }
  if (state_ == State::kReady && !in_read_batch()) Flush();
}

void Transport::Cancel(uint64_t call_id) {
  asio::post(executor_, [self = self(), call_id] {
    if (Attempt* a = self->calls_.Take(call_id)) {
      self->SendCancel(call_id);
      self->CompleteCall(a, Status(StatusCode::kCancelled, "call cancelled by the client"), false);
    }
  });
}

void Transport::SendCancel(uint64_t call_id) {
  if (state_ != State::kReady && state_ != State::kDraining) return;
  wire::CancelHeader c;
  c.set_call_id(call_id);
  codec::AppendFrame(out(), FrameType::kCancel, c, nullptr);
  if (!in_read_batch()) Flush();
}

void Transport::CompleteCall(Attempt* a, Status status, bool not_executed) {
  a->Done(std::move(status), not_executed);
  MaybeFinishDrain();
}

void Transport::OnReadFailed(const boost::system::error_code& ec) {
  Close(!write_error_.ok() ? write_error_
                          : Status(StatusCode::kUnavailable, "connection to " + address_ + " lost: " +
                                                                 (ec == asio::error::eof ? "closed by peer" : ec.message())));
}

void Transport::OnDecodeError(const codec::DecodeResult& r) {
  Close(Status(StatusCode::kUnavailable, "protocol error from " + address_ + ": " + std::string(codec::ToString(r.error))));
}

void Transport::OnProtocolError(std::string_view reason, std::string detail) {
  Close(Status(StatusCode::kUnavailable, "protocol error from " + address_ + ": " + detail));
}

// Client readers have no shared budget; a frame over max_body_bytes is a decode error.
void Transport::OnOverBudget() {
  Close(Status(StatusCode::kUnavailable, "connection to " + address_ + ": partly received frame over budget"));
}

bool Transport::OnFrame(const codec::FrameView& frame) {
  switch (frame.prefix.type) {
    case FrameType::kResponse:
      HandleResponse(frame);
      return state_ != State::kClosed;
    case FrameType::kPing:
    case FrameType::kPong:
      return true;  // answered by FramedConnection
    case FrameType::kGoaway:
      HandleGoaway(frame);
      return state_ != State::kClosed;
    case FrameType::kRequest:
    case FrameType::kCancel:
      Close(Status(StatusCode::kUnavailable, "protocol error from " + address_ + ": unexpected " +
                                                std::string(codec::ToString(frame.prefix.type)) + " frame"));
      return false;
  }
  return true;
}

void Transport::HandleResponse(const codec::FrameView& frame) {
  auto& h = scratch_response_;
  if (!h.ParseFromArray(frame.header.data(), static_cast<int>(frame.header.size()))) {
    Close(Status(StatusCode::kUnavailable, "protocol error from " + address_ + ": malformed RESPONSE header"));
    return;
  }
  Attempt* a = calls_.Take(h.call_id());
  if (!a) return;  // finished already (deadline or cancel): a late reply is dropped
  Status status(StatusCodeFromInt(h.status()), h.message());
  if (status.ok() && !a->response->ParseFromArray(frame.body.data(), static_cast<int>(frame.body.size()))) {
    status = Status(StatusCode::kInternal, "cannot parse response body as " + a->response->GetTypeName());
  }
  CompleteCall(a, std::move(status), h.not_executed());
}

void Transport::HandleGoaway(const codec::FrameView& frame) {
  wire::GoawayHeader g;
  if (!g.ParseFromArray(frame.header.data(), static_cast<int>(frame.header.size()))) {
    Close(Status(StatusCode::kUnavailable, "protocol error from " + address_ + ": malformed GOAWAY header"));
    return;
  }
  const Status why(StatusCodeFromInt(g.status()), g.message());
  if (!why.ok()) {
    // The server refused the connection (e.g. its connection limit): fail with its reason.
    Close(Status(why.code(), address_ + " refused the connection: " + why.message()));
    return;
  }
  // Drain: no new calls here; calls already sent are answered (or refused as not executed).
  Log()->info("{} is draining (GOAWAY: {})", address_, g.message());
  state_ = State::kDraining;
  if (auto l = listener_.lock()) l->OnTransportDraining(this);
  MaybeFinishDrain();
}

void Transport::MaybeFinishDrain() {
  if (state_ == State::kDraining && calls_.empty()) Close(Status::Ok());
}

void Transport::Close(const Status& why) {
  KRPC_ASSERT_IN_LOOP(InLoop());
  if (state_ == State::kClosed) return;
  const bool was_connecting = state_ == State::kConnecting;
  state_ = State::kClosed;
  stream().Close();
  resolver_.cancel();
  connect_timer_.cancel();
  deadline_timer_.cancel();
  heartbeat_timer_.cancel();
  if (!why.ok()) Log()->debug("transport to {} closed: {}", address_, why.ToString());
  auto calls = calls_.TakeAll();
  // The owner forgets this transport first, so a retry from a failed call goes elsewhere.
  auto keep = self();  // the listener may drop the last reference
  if (auto l = listener_.lock()) l->OnTransportClosed(this, why, was_ready_, peer_silent_);
  // Calls that never reached the wire were not executed; others may have been.
  for (auto& [id, a] : calls) {
    a->Done(why.ok() ? Status(StatusCode::kUnavailable, "connection closed") : why, was_connecting);
  }
}

bool Transport::CanWrite() const {
  return (state_ == State::kReady || state_ == State::kDraining) && write_error_.ok();
}

void Transport::OnWriteFailed(const boost::system::error_code& ec) {
  // The peer may have answered before closing (e.g. an error naming a limit): stop writing,
  // keep reading until the read side ends, and fail what is left then.
  write_error_ = Status(StatusCode::kUnavailable, "write to " + address_ + " failed: " + ec.message());
  stream().ShutdownSend();
  if (state_ == State::kReady) {
    state_ = State::kDraining;
    if (auto l = listener_.lock()) l->OnTransportDraining(this);
  }
}

void Transport::ArmDeadline(Clock::time_point when) {
  if (when >= deadline_armed_) return;  // an earlier wake-up is already set
  deadline_armed_ = when;
  deadline_timer_.expires_at(when);
  deadline_timer_.async_wait([self = self()](const boost::system::error_code& ec) {
    if (ec == asio::error::operation_aborted) return;  // re-armed earlier, or closed
    self->OnDeadline();
  });
}

void Transport::OnDeadline() {
  deadline_armed_ = Clock::time_point::max();
  if (state_ == State::kClosed) return;
  const auto now = Clock::now();
  while (!deadlines_.empty() && deadlines_.top().when <= now) {
    const DeadlineEntry e = deadlines_.top();
    deadlines_.pop();
    if (e.hedge) {
      // Still in flight at its hedge time: the channel may start a hedge elsewhere. The
      // attempt stays here (its call cannot finish while it is in flight).
      if (Attempt* a = calls_.Find(e.id)) {
        auto sink = a->call->sink;
        sink->OnHedgeDue(a);
      }
      continue;
    }
    if (Attempt* a = calls_.Take(e.id)) {
      SendCancel(e.id);
      const bool per_try = a->deadline < a->call->deadline;
      CompleteCall(a, Status(StatusCode::kDeadlineExceeded,
                             (per_try ? "per-try timeout exceeded waiting for " : "deadline exceeded waiting for ") + address_),
                   false);
      if (state_ == State::kClosed) return;
    }
  }
  // Entries of calls that finished early stay in the heap until their time; waking at most
  // once per granularity bounds the timer's cost at high call rates.
  if (!deadlines_.empty()) ArmDeadline(std::max(deadlines_.top().when, now + kDeadlineGranularity));
}

void Transport::ArmHeartbeat() {
  const auto tick = std::max(std::chrono::milliseconds(5), std::chrono::milliseconds(options_.heartbeat_interval_ms / 2));
  heartbeat_timer_.expires_after(tick);
  heartbeat_timer_.async_wait([self = self()](const boost::system::error_code& ec) {
    if (!ec) self->OnHeartbeat();
  });
}

void Transport::OnHeartbeat() {
  if (state_ == State::kClosed) return;
  const auto now = Clock::now();
  const auto interval = std::chrono::milliseconds(options_.heartbeat_interval_ms);
  const auto dead_after = interval * (options_.heartbeat_miss_limit + 1);
  if (now - last_recv() >= dead_after) {
    peer_silent_ = true;
    Close(Status(StatusCode::kUnavailable, "no traffic from " + address_ + " for " +
                                              std::to_string(dead_after.count()) + " ms (missed heartbeats)"));
    return;
  }
  if (now - last_send_ >= interval) {
    wire::PingHeader ping;
    ping.set_nonce(++ping_nonce_);
    codec::AppendFrame(out(), FrameType::kPing, ping, nullptr);
    last_send_ = now;
    Flush();
  }
  ArmHeartbeat();
}

}  // namespace krpc::impl
