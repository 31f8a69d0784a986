// ServerCall: one call being handled. It is the handler's controller and its `done` closure;
// running `done` hands the response back to the connection's thread.
#pragma once

#include <google/protobuf/message.h>

#include <memory>

#include "krpc/server_controller.h"
#include "method_table.h"

namespace krpc::node {

class ServerConnection;

class ServerCall final : public ServerController, public google::protobuf::Closure {
 public:
  ServerCall(std::shared_ptr<ServerConnection> conn, const MethodEntry* entry, uint64_t call_id,
             Clock::time_point arrival, uint64_t timeout_us);

  // `done`: completes the call on the connection's thread (posting there if needed).
  void Run() override;

  google::protobuf::Message* request() { return request_.get(); }
  google::protobuf::Message* response() { return response_.get(); }
  const MethodEntry& entry() const { return *entry_; }
  uint64_t call_id() const { return call_id_; }
  Clock::time_point arrival() const { return arrival_; }
  Metadata& mutable_metadata() { return metadata_storage_; }
  bool expired(Clock::time_point now) const { return now >= deadline_; }
  // Runs the handler now (on whatever thread calls this).
  void Invoke();
  void Cancel() { MarkCanceled(); }

  // Set while the call is registered in the connection's table of unfinished calls.
  bool tracked = false;
  // Set when fault injection hangs the call: it is answered only when the connection closes.
  bool hung = false;

 private:
  std::shared_ptr<ServerConnection> conn_;
  const MethodEntry* entry_;
  const uint64_t call_id_;
  const Clock::time_point arrival_;
  std::unique_ptr<google::protobuf::Message> request_;
  std::unique_ptr<google::protobuf::Message> response_;
  Metadata metadata_storage_;
};

}  // namespace krpc::node
