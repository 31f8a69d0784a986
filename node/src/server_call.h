// ServerCall: one call being handled. It is the handler's controller and its `done` closure;
// running `done` hands the response back to the connection's thread.
#pragma once

#include <boost/asio/steady_timer.hpp>
#include <google/protobuf/message.h>

#include <atomic>
#include <memory>
#include <string_view>

#include "krpc/server_controller.h"
#include "krpc/server_stream.h"
#include "method_table.h"

namespace krpc::node {

class CallHost;

class ServerCall final : public ServerController, public google::protobuf::Closure {
 public:
  ServerCall(std::shared_ptr<CallHost> conn, const MethodEntry* entry, uint64_t call_id,
             Clock::time_point arrival, uint64_t timeout_us);

  // `done`: completes the call on the connection's thread (posting there if needed). Runs
  // once; a second run (a handler bug) is ignored.
  void Run() override;

  google::protobuf::Message* request() { return request_.get(); }
  google::protobuf::Message* response() { return response_.get(); }
  const MethodEntry& entry() const { return *entry_; }
  uint64_t call_id() const { return call_id_; }
  Clock::time_point arrival() const { return arrival_; }
  Clock::time_point started() const { return started_; }
  Metadata& mutable_metadata() { return metadata_storage_; }
  bool expired(Clock::time_point now) const { return now >= deadline_; }
  // Runs the handler now (on whatever thread calls this). A handler that throws before it
  // ran `done` gets its call answered INTERNAL (logged and counted).
  void Invoke();
  // Invoke(), unless the deadline passed `where` (then DEADLINE_EXCEEDED, not executed).
  void InvokeUnlessExpired(std::string_view where);
  void Cancel() { MarkCanceled(); }
  // Takes a reference (a StreamCall holds its call while the handler may use the controller).
  void AddRef() { refs_.fetch_add(1, std::memory_order_relaxed); }
  // Drops a reference; the call is deleted when both the completion and a running Invoke()
  // have dropped theirs.
  void Release();

  // Connection-thread state.
  bool tracked = false;        // registered in the connection's table of unfinished calls
  bool hung = false;           // fault injection hangs it: answered on cancel or close only
  bool not_executed = false;   // an error reply says the handler never ran
  bool slot_released = false;  // no longer counted against max_inflight (done or cancelled)
  bool node_slot = false;      // holds a slot of the node's adaptive limit
  bool method_slot = false;    // holds a slot of its method's limit
  bool timed = false;          // its handler time is measured (early_refusal): started() is set
  // An injected delay before the handler runs; cancelled when the connection closes, so the
  // wait never outlives the connection (it holds a reference to it).
  std::shared_ptr<boost::asio::steady_timer> delay_timer;
  // A streaming method's stream (owned by the connection while open, and by the handler).
  std::weak_ptr<ServerStream> stream;

 private:
  void HandlerThrew(std::string_view what);

  std::shared_ptr<CallHost> conn_;  // the connection it arrived on
  const MethodEntry* entry_;
  const uint64_t call_id_;
  const Clock::time_point arrival_;
  Clock::time_point started_{};  // when the handler started (timed calls)
  std::unique_ptr<google::protobuf::Message> request_;
  std::unique_ptr<google::protobuf::Message> response_;
  Metadata metadata_storage_;
  std::atomic<int> refs_{1};
  std::atomic<bool> done_ran_{false};
};

}  // namespace krpc::node
