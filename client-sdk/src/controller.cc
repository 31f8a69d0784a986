#include "krpc/controller.h"

#include <algorithm>

#include "call_data.h"
#include "subchannel.h"
#include "transport.h"

namespace krpc {
namespace impl {

CallData::CallData() {
  for (auto& a : slots) a.call = this;
}

void CallData::ResetCall() {
  method = nullptr;
  request = nullptr;
  response = nullptr;
  done = nullptr;
  stream.reset();
  sink.reset();
  status = Status();
  remote.clear();
  response_metadata.clear();
  std::lock_guard lock(mu);
  for (auto& a : slots) {
    a.subchannel.reset();
    a.active = a.cancel = a.hedge = false;
    a.transport.reset();
    a.call_id = 0;
  }
  in_flight = attempts = hedges = transparent = n_tried = 0;
  hedge_won = decided = false;
  outcome = Status();
  winner = nullptr;
  state = CallState::kActive;
  finished = false;
  canceled = false;
  on_cancel = nullptr;
  token.reset();  // a late wake-up of the previous call must not find this one
}

Attempt* CallData::FreeSlot() {
  for (auto& a : slots) {
    if (!a.active) return &a;
  }
  return nullptr;
}

void Attempt::Done(Status status, bool not_executed) {
  auto keep = call->sink;
  keep->OnAttemptDone(this, std::move(status), not_executed);
}

std::shared_ptr<CallToken> CallData::Park(CallState s) {
  std::lock_guard lock(mu);
  if (canceled) return nullptr;
  if (!token) token = std::make_shared<CallToken>(this);
  state = s;
  return token;
}

bool Attempt::Attach(std::weak_ptr<Transport> t, uint64_t id) {
  std::lock_guard lock(call->mu);
  if (call->canceled || cancel) return false;
  call->state = CallState::kInFlight;
  transport = std::move(t);
  call_id = id;
  return true;
}

CallData* CallToken::Resume(const std::shared_ptr<CallToken>& token, CallState parked) {
  if (!token) return nullptr;
  std::lock_guard lock(token->mu);  // while held, the call cannot complete (Finish takes it)
  CallData* c = token->call;
  if (c == nullptr) return nullptr;
  std::lock_guard call_lock(c->mu);
  if (c->state != parked) return nullptr;
  c->state = CallState::kActive;
  return c;
}

void CallData::Finish(Status s) {
  status = std::move(s);
  end = Clock::now();
  std::shared_ptr<CallToken> t;
  {
    std::lock_guard lock(mu);
    t = std::move(token);
  }
  if (t) {
    std::lock_guard lock(t->mu);  // waits out a concurrent Resume() that still looks at us
    t->call = nullptr;
  }
  if (done) {
    {
      std::lock_guard lock(mu);
      state = CallState::kDone;
      finished = true;
    }
    done->Run();  // the caller may destroy the controller from here on
    return;
  }
  std::lock_guard lock(mu);  // notify under the lock: the waiter frees `cv` once it returns
  state = CallState::kDone;
  finished = true;
  cv.notify_one();
}

void CallData::Wait() {
  std::unique_lock lock(mu);
  cv.wait(lock, [this] { return finished; });
}

}  // namespace impl

Controller::Controller() : d_(std::make_unique<impl::CallData>()) {}
Controller::~Controller() = default;

void Controller::set_timeout(std::chrono::milliseconds timeout) {
  d_->timeout = timeout;
  d_->timeout_set = true;
}

void Controller::set_deadline(Clock::time_point deadline) {
  d_->deadline = deadline;
  d_->deadline_set = true;
}

void Controller::AddMetadata(std::string key, std::string value) {
  std::transform(key.begin(), key.end(), key.begin(), [](unsigned char c) { return std::tolower(c); });
  d_->metadata.emplace_back(std::move(key), std::move(value));
}

void Controller::set_request_key(uint64_t key) {
  d_->request_key = key;
  d_->has_request_key = true;
}

void Controller::set_idempotent(bool idempotent) { d_->idempotent = idempotent; }

void Controller::set_per_try_timeout(std::chrono::milliseconds timeout) {
  d_->per_try_timeout = timeout;
  d_->per_try_set = true;
}

const Status& Controller::status() const { return d_->status; }

std::chrono::microseconds Controller::latency() const {
  return std::chrono::duration_cast<std::chrono::microseconds>(d_->end - d_->start);
}

const std::string& Controller::remote() const { return d_->remote; }
const std::vector<std::pair<std::string, std::string>>& Controller::response_metadata() const {
  return d_->response_metadata;
}
int Controller::attempts() const { return d_->attempts; }
int Controller::hedges() const { return d_->hedges; }
bool Controller::hedge_won() const { return d_->hedge_won; }

void Controller::Reset() {
  d_->ResetCall();
  d_->metadata.clear();
  d_->timeout_set = d_->deadline_set = d_->has_request_key = d_->idempotent = d_->per_try_set = false;
}

void Controller::SetFailed(const std::string& reason) { d_->status = Status(StatusCode::kUnknown, reason); }

bool Controller::IsCanceled() const {
  std::lock_guard lock(d_->mu);
  return d_->canceled;
}

void Controller::NotifyOnCancel(google::protobuf::Closure* callback) {
  {
    std::lock_guard lock(d_->mu);
    if (!d_->canceled) {
      d_->on_cancel = callback;
      return;
    }
  }
  callback->Run();
}

void Controller::StartCancel() {
  std::pair<std::shared_ptr<impl::Transport>, uint64_t> in_flight[impl::CallData::kMaxAttempts];
  google::protobuf::Closure* cb = nullptr;
  bool parked = false;
  {
    std::lock_guard lock(d_->mu);
    if (d_->canceled || d_->finished) return;
    d_->canceled = true;
    if (d_->state == impl::CallState::kInFlight) {
      for (int i = 0; i < impl::CallData::kMaxAttempts; ++i) {
        auto& a = d_->slots[i];
        a.cancel = true;
        if (a.active && a.call_id != 0) in_flight[i] = {a.transport.lock(), a.call_id};
      }
    } else if (d_->state == impl::CallState::kWaitingForList || d_->state == impl::CallState::kBackoff) {
      parked = true;  // nothing else will wake it in time: finish it here
      d_->state = impl::CallState::kActive;
    }
    cb = std::exchange(d_->on_cancel, nullptr);
  }
  if (cb) cb->Run();
  for (auto& [transport, id] : in_flight) {
    if (transport) transport->Cancel(id);
  }
  if (parked) {
    auto sink = d_->sink;  // the parked call is ours alone now
    sink->OnCanceledWhileParked(d_.get());
  }
}

}  // namespace krpc
