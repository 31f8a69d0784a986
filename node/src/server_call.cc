#include "server_call.h"

#include "krpc/impl/deadline.h"
#include "call_host.h"

namespace krpc {

std::chrono::microseconds ServerController::remaining() const {
  if (deadline_ == Clock::time_point::max()) return std::chrono::microseconds::max();
  const auto left = std::chrono::duration_cast<std::chrono::microseconds>(deadline_ - Clock::now());
  return left.count() > 0 ? left : std::chrono::microseconds(0);
}

std::string_view ServerController::metadata(std::string_view key) const {
  auto it = metadata_->find(std::string(key));
  return it == metadata_->end() ? std::string_view() : std::string_view(it->second);
}

void ServerController::SetStatus(StatusCode code, std::string message) { status_ = Status(code, std::move(message)); }

void ServerController::NotifyOnCancel(google::protobuf::Closure* callback) {
  {
    std::lock_guard lock(cancel_mu_);
    if (!canceled_.load(std::memory_order_acquire)) {
      on_cancel_ = callback;
      return;
    }
  }
  callback->Run();
}

void ServerController::MarkCanceled() {
  google::protobuf::Closure* cb = nullptr;
  {
    std::lock_guard lock(cancel_mu_);
    if (canceled_.exchange(true, std::memory_order_acq_rel)) return;
    cb = std::exchange(on_cancel_, nullptr);
  }
  if (cb) cb->Run();
}

void ServerController::SetDeadline(Clock::time_point arrival, uint64_t timeout_us) {
  deadline_ = impl::SaturatingDeadline(arrival, timeout_us);
}

ServerController::~ServerController() = default;

namespace node {

ServerCall::ServerCall(std::shared_ptr<CallHost> conn, const MethodEntry* entry, uint64_t call_id,
                       Clock::time_point arrival, uint64_t timeout_us)
    : conn_(std::move(conn)),
      entry_(entry),
      call_id_(call_id),
      arrival_(arrival),
      request_(entry->request_prototype->New()),
      response_(entry->response_prototype->New()) {
  SetDeadline(arrival, timeout_us);
  metadata_ = &metadata_storage_;
  method_ = &entry->full_name;
  peer_ = &conn_->peer();
  identity_ = &conn_->identity();
}

void ServerCall::Invoke() {
  refs_.fetch_add(1, std::memory_order_relaxed);
  if (timed) started_ = Clock::now();
  try {
    if (!entry_->streaming()) {
      entry_->service->CallMethod(entry_->method, this, request(), response(), this);
    } else if (auto s = stream.lock()) {
      entry_->streamer->CallStream(entry_->method, std::move(s));
    } else {  // the stream closed before its handler could start
      SetStatus(StatusCode::kCancelled, "the stream ended before its handler ran");
      Run();
    }
  } catch (const std::exception& e) {
    HandlerThrew(e.what());
  } catch (...) {
    HandlerThrew("a non-standard exception");
  }
  Release();
}

void ServerCall::InvokeUnlessExpired(std::string_view where) {
  if (expired(Clock::now())) {
    SetStatus(StatusCode::kDeadlineExceeded, "deadline expired " + std::string(where));
    not_executed = true;
    Run();
    return;
  }
  Invoke();
}

void ServerCall::HandlerThrew(std::string_view what) {
  conn_->HandlerFailed(*entry_, what);
  if (done_ran_.load(std::memory_order_acquire)) return;  // it answered before throwing
  SetStatus(StatusCode::kInternal, "handler threw: " + std::string(what));
  Run();
}

void ServerCall::Release() {
  if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
}

void ServerCall::Run() {
  if (done_ran_.exchange(true, std::memory_order_acq_rel)) return;
  // Complete() releases this call, which may hold the last reference to the connection.
  auto conn = conn_;
  conn->CompleteFromAnyThread(this);
}

}  // namespace node
}  // namespace krpc
