#include "server_call.h"

#include "server_connection.h"

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
  if (canceled_) {
    callback->Run();
    return;
  }
  on_cancel_ = callback;
}

void ServerController::MarkCanceled() {
  if (canceled_) return;
  canceled_ = true;
  if (auto* cb = std::exchange(on_cancel_, nullptr)) cb->Run();
}

ServerController::~ServerController() = default;

namespace node {

ServerCall::ServerCall(std::shared_ptr<ServerConnection> conn, const MethodEntry* entry, uint64_t call_id,
                       Clock::time_point arrival, uint64_t timeout_us)
    : conn_(std::move(conn)),
      entry_(entry),
      call_id_(call_id),
      arrival_(arrival),
      request_(entry->request_prototype->New()),
      response_(entry->response_prototype->New()) {
  if (timeout_us > 0) deadline_ = arrival + std::chrono::microseconds(timeout_us);
  metadata_ = &metadata_storage_;
  method_ = &entry->full_name;
  peer_ = &conn_->peer();
}

void ServerCall::Invoke() { entry_->service->CallMethod(entry_->method, this, request(), response(), this); }

void ServerCall::Run() {
  // Complete() deletes this call, which may hold the last reference to the connection.
  auto conn = conn_;
  if (conn->InLoop()) {
    conn->Complete(this);
    return;
  }
  if (!conn->PostIfRunning([conn, this] { conn->Complete(this); })) conn->Complete(this);
}

}  // namespace node
}  // namespace krpc
