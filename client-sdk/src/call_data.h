// CallData: the state of one client call, owned by its Controller. Settings are written by
// the caller before the call starts; attempt state is touched only on the I/O thread that
// runs the attempt; `mu` guards what other threads may touch (cancel, blocking wait).
#pragma once

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "krpc/status.h"

namespace krpc::impl {

class Transport;
class Subchannel;
struct CallData;

// Receives the outcome of each attempt (the channel decides: finish, or retry elsewhere).
class AttemptSink {
 public:
  virtual ~AttemptSink() = default;
  // `not_executed`: the server said, or the transport knows, that the handler never ran.
  virtual void OnAttemptDone(CallData* call, Status status, bool not_executed) = 0;
};

struct CallData {
  using Clock = std::chrono::steady_clock;

  // Settings (caller thread, before the call).
  std::chrono::milliseconds timeout{0};
  bool timeout_set = false;
  Clock::time_point deadline = Clock::time_point::max();
  bool deadline_set = false;
  std::vector<std::pair<std::string, std::string>> metadata;
  uint64_t request_key = 0;
  bool has_request_key = false;
  bool idempotent = false;

  // The call.
  const google::protobuf::MethodDescriptor* method = nullptr;
  const google::protobuf::Message* request = nullptr;
  google::protobuf::Message* response = nullptr;
  google::protobuf::Closure* done = nullptr;
  AttemptSink* sink = nullptr;
  Clock::time_point start;
  Clock::time_point end;
  Status status;
  std::string remote;
  std::shared_ptr<Subchannel> subchannel;  // where the current attempt runs
  int attempts = 0;
  Clock::time_point attempt_start;
  const Subchannel* tried[4] = {};           // endpoints already tried (retries avoid them)
  int n_tried = 0;

  // Cross-thread state.
  std::mutex mu;
  std::condition_variable cv;
  bool finished = false;
  bool canceled = false;
  google::protobuf::Closure* on_cancel = nullptr;
  std::weak_ptr<Transport> transport;  // where the current attempt runs (for cancel)
  uint64_t call_id = 0;

  // Clears everything but the settings.
  void ResetCall();
  // Completes the call: runs `done` or wakes the blocking caller. Must be the last access.
  void Finish(Status s);
  // Blocks until Finish() ran.
  void Wait();
};

}  // namespace krpc::impl
