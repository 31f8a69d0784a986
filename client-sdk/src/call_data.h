// CallData: the state of one client call, owned by its Controller. Settings are written by
// the caller before the call starts; attempt state is touched only on the I/O thread that
// runs the attempt; `mu` guards what other threads may touch (cancel, blocking wait).
//
// A call's life is an explicit state machine (CallState). Cancel is checked at every step:
//   kActive          picking / posting to the I/O thread / sending: a cancel sets `canceled`,
//                    which the transport checks under `mu` before it takes the call, and the
//                    retry policy checks before another attempt;
//   kInFlight        on a transport (`transport`, `call_id` set): cancel goes there (CANCEL);
//   kWaitingForList  parked until the route's first provider list, and
//   kBackoff         parked between attempts: cancel finishes the call at once; the parking
//                    timer or list then finds the call gone through its CallToken;
//   kDone            finished; `done` ran or the waiter was woken.
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
// The call holds its sink by shared_ptr while it runs, so a late response never reaches a
// freed channel.
class AttemptSink {
 public:
  virtual ~AttemptSink() = default;
  // `not_executed`: the server said, or the transport knows, that the handler never ran.
  virtual void OnAttemptDone(CallData* call, Status status, bool not_executed) = 0;
  // The call was cancelled while parked (kWaitingForList, kBackoff): finish it CANCELLED.
  virtual void OnCanceledWhileParked(CallData* call) = 0;
};

enum class CallState : uint8_t { kActive, kInFlight, kWaitingForList, kBackoff, kDone };

// What a parked call's timer or waiting-list entry holds instead of the call itself: the call
// clears it before it completes (after which the caller may free it), so a late wake-up finds
// nothing instead of a freed call.
struct CallToken {
  explicit CallToken(CallData* c) : call(c) {}
  std::mutex mu;
  CallData* call;  // guarded by mu; null once the call finished
  // The call, moved from `parked` to kActive, or null if it finished or moved on meanwhile.
  static CallData* Resume(const std::shared_ptr<CallToken>& token, CallState parked);
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
  std::shared_ptr<AttemptSink> sink;
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
  CallState state = CallState::kActive;
  bool finished = false;
  bool canceled = false;
  std::shared_ptr<CallToken> token;  // created when the call first parks
  google::protobuf::Closure* on_cancel = nullptr;
  std::weak_ptr<Transport> transport;  // where the current attempt runs (for cancel)
  uint64_t call_id = 0;

  // Clears everything but the settings.
  void ResetCall();
  // Parks the call in `s` (kWaitingForList or kBackoff) and returns its token, or null when
  // it was cancelled already (the caller then finishes it CANCELLED).
  std::shared_ptr<CallToken> Park(CallState s);
  // Reports the current attempt's outcome to the sink (kept alive for the duration).
  void AttemptDone(Status status, bool not_executed) {
    auto keep = sink;
    keep->OnAttemptDone(this, std::move(status), not_executed);
  }
  // Hands the call to a transport under `mu`: false when it was cancelled first.
  bool Attach(std::weak_ptr<Transport> t, uint64_t id);
  // Completes the call: runs `done` or wakes the blocking caller. Must be the last access.
  void Finish(Status s);
  // Blocks until Finish() ran.
  void Wait();
};

}  // namespace krpc::impl
