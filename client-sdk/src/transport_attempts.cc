// How an attempt passes through a transport: admitted (StartCall), written at once or kept
// unencoded while the connection holds max_queued_request_bytes unanswered (WriteWaiting),
// then answered, cancelled, or ended by its deadline (one timer per connection).
#include <boost/asio/post.hpp>

#include "krpc/impl/thread_check.h"
#include "transport.h"

namespace krpc::impl {
namespace asio = boost::asio;

namespace {
constexpr auto kDeadlineGranularity = std::chrono::milliseconds(1);
// The least wait of the oldest waiting request that can mean a standing queue.
constexpr auto kStandingQueue = std::chrono::milliseconds(1);
}  // namespace

void Transport::StartCall(Attempt* a) {
  KRPC_ASSERT_IN_LOOP(InLoop());
  const auto now = Clock::now();
  a->unwritten = false;
  if (!accepting()) {
    EndAttempt(a, Status(StatusCode::kUnavailable, "connection to " + address_ + " is closing"), true);
    return;
  }
  if (a->deadline <= now) {
    EndAttempt(a, Status(StatusCode::kDeadlineExceeded, "deadline passed before sending"), true);
    return;
  }
  const size_t body = a->call->request->ByteSizeLong();
  if (body > options_.max_body_bytes) {
    EndAttempt(a, Status(StatusCode::kResourceExhausted, "request of " + std::to_string(body) +
                                                       " bytes exceeds max_body_bytes=" +
                                                       std::to_string(options_.max_body_bytes)),
            true);
    return;
  }
  const uint64_t id = calls_.Insert(a);
  if (!a->Attach(std::weak_ptr<Transport>(Ref()), id)) {  // cancelled on its way here
    calls_.Take(id);
    EndAttempt(a, Status(StatusCode::kCancelled, "call cancelled by the client"), true);
    return;
  }
  if (!unwritten_.empty() || QueueFull() || WriteBlocked()) {
    a->unwritten = true;
    unwritten_.push_back({id, now});
  } else if (!SendRequest(a, id, now)) {
    return;
  }
  last_send_ = now;
  const auto running = [this](uint64_t call_id) { return calls_.Find(call_id) != nullptr; };
  if (a->deadline != Clock::time_point::max()) {
    deadlines_.Push({a->deadline, id, false}, running);
    ArmDeadline(a->deadline);
  }
  if (a->hedge_at < a->deadline) {
    deadlines_.Push({a->hedge_at, id, true}, running);
    ArmDeadline(a->hedge_at);
  }
}

void Transport::WriteWaiting() {
  if (unwritten_.empty() || writing_waiting_) return;
  writing_waiting_ = true;
  const auto now = Clock::now();
  while (!unwritten_.empty() && !QueueFull() && writable()) {
    // Attempts that ended while they waited (cancel, deadline) leave their ids behind.
    const Attempt* oldest = nullptr;
    while (!unwritten_.empty() && !(oldest = calls_.Find(unwritten_.front().id))) unwritten_.pop_front();
    if (oldest == nullptr) break;
    // Oldest first, until the oldest has waited longer than answers take and than the time
    // it has left: then the queue stands, and newest first keeps what is written in time.
    const auto waited = now - unwritten_.front().since;
    const bool standing = waited > std::max<Clock::duration>(answer_wait_, kStandingQueue) &&
                          waited > oldest->deadline - now;
    const uint64_t id = standing ? unwritten_.back().id : unwritten_.front().id;
    standing ? unwritten_.pop_back() : unwritten_.pop_front();
    Attempt* a = calls_.Find(id);
    if (!a) continue;
    a->unwritten = false;
    // Sending a request that cannot be answered in time only delays the ones behind it.
    if (a->deadline - now <= answer_wait_) {
      calls_.Take(id);
      const bool per_try = a->deadline < a->call->deadline;
      CompleteCall(a, Status(StatusCode::kDeadlineExceeded, std::string(per_try ? "per-try timeout" : "deadline") +
                                                                (a->deadline <= now ? " passed" : " too near") +
                                                                " before the request was written to " + address_),
                   true);
      if (state_ == State::kClosed) break;
      continue;
    }
    SendRequest(a, id, now);
  }
  writing_waiting_ = false;
}

void Transport::Cancel(uint64_t call_id) {
  asio::post(executor_, [self = Ref(), call_id] {
    if (Attempt* a = self->calls_.Take(call_id)) {
      // A request still waiting to be written is simply not sent.
      const bool unsent = std::exchange(a->unwritten, false);
      if (!unsent) self->SendCancel(call_id);
      self->CompleteCall(a, Status(StatusCode::kCancelled, "call cancelled by the client"), unsent);
    }
  });
}

void Transport::CompleteCall(Attempt* a, Status status, bool not_executed) {
  EndAttempt(a, std::move(status), not_executed);
  MaybeFinishDrain();
}

void Transport::EndAttempt(Attempt* a, Status status, bool not_executed) {
  if (a->queued_bytes != 0) {
    // Answers are timed only while requests wait for room (the only time the estimate is
    // used), one in four: a clock read per answer is not free.
    if (!unwritten_.empty() && (++answers_ & 3) == 0 && status.code() != StatusCode::kDeadlineExceeded &&
        status.code() != StatusCode::kCancelled) {
      const auto wait = Clock::now() - a->queued_at;
      answer_wait_ += (wait - answer_wait_) / 8;
    }
    const bool was_full = QueueFull();
    queued_bytes_ -= std::exchange(a->queued_bytes, 0);
    if (was_full && !QueueFull()) WriteWaiting();  // answers made room: what waited goes out first
  }
  if (auto l = listener_.lock()) return l->OnAttemptEnded(a, std::move(status), not_executed);
  a->Done(std::move(status), not_executed);  // the subchannel is gone: nothing left to count
}

void Transport::ArmDeadline(Clock::time_point when) {
  if (when >= deadline_armed_) return;  // an earlier wake-up is already set
  deadline_armed_ = when;
  deadline_timer_.expires_at(when);
  deadline_timer_.async_wait([self = Ref()](const boost::system::error_code& ec) {
    if (ec == asio::error::operation_aborted) return;  // re-armed earlier, or closed
    self->OnDeadline();
  });
}

void Transport::OnDeadline() {
  deadline_armed_ = Clock::time_point::max();
  if (state_ == State::kClosed) return;
  const auto now = Clock::now();
  while (!deadlines_.empty() && deadlines_.Top().when <= now) {
    const DeadlineQueue::Entry e = deadlines_.Pop();
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
      const bool unsent = std::exchange(a->unwritten, false);
      if (!unsent) SendCancel(e.id);  // the server never saw a request that was not written
      const bool per_try = a->deadline < a->call->deadline;
      CompleteCall(a, Status(StatusCode::kDeadlineExceeded,
                             std::string(per_try ? "per-try timeout exceeded " : "deadline exceeded ") +
                                 (unsent ? "before the request was written to " : "waiting for ") + address_),
                   unsent);
      if (state_ == State::kClosed) return;
    }
  }
  // Entries of calls that finished early may stay queued until their time; waking at most
  // once per granularity bounds the timer's cost at high call rates.
  if (!deadlines_.empty()) ArmDeadline(std::max(deadlines_.Top().when, now + kDeadlineGranularity));
}

}  // namespace krpc::impl
