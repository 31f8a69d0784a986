// CallData: the state of one client call, owned by its Controller, and its Attempts. Settings
// are written by the caller before the call starts; `mu` guards what several threads touch
// (cancel, the attempts in flight, the decision, the blocking wait).
//
// A call runs one attempt at a time, or several at once when it is hedged (at most
// kMaxAttempts in flight). Each attempt ends exactly once (AttemptSink::OnAttemptDone), and
// the call finishes only when it is decided and no attempt is left in flight: a losing hedge
// is cancelled and its end awaited, so no transport ever holds an attempt of a freed call.
//
// A call's life is an explicit state machine (CallState). Cancel is checked at every step:
//   kActive          picking / posting to the I/O thread / sending: a cancel sets `canceled`,
//                    which the transport checks under `mu` before it takes an attempt, and
//                    the retry policy checks before another attempt;
//   kInFlight        attempts on transports: cancel goes to each of them (CANCEL);
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
class ClientStreamCore;
class EndpointLoad;
struct CallData;

struct Attempt;

// Receives the outcome of each attempt (the channel decides: finish, or retry elsewhere).
// The call holds its sink by shared_ptr while it runs, so a late response never reaches a
// freed channel.
class AttemptSink {
 public:
  virtual ~AttemptSink() = default;
  // `not_executed`: the server said, or the transport knows, that the handler never ran.
  virtual void OnAttemptDone(Attempt* attempt, Status status, bool not_executed) = 0;
  // The attempt is still in flight at its hedge time (Attempt::hedge_at), on its transport's
  // thread: the sink may start a hedge.
  virtual void OnHedgeDue(Attempt*) {}
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

// One try of a call on one endpoint. Lives in its call (no allocation); the transport holds
// it from StartCall until it reports the attempt's end.
struct Attempt {
  using Clock = std::chrono::steady_clock;
  CallData* call = nullptr;                 // the owner (fixed)
  std::shared_ptr<Subchannel> subchannel;   // where it runs (set by the channel)
  Clock::time_point start;
  Clock::time_point end;  // when its subchannel counted its end (one clock read for both layers)
  Clock::time_point deadline = Clock::time_point::max();  // the per-try deadline (<= the call's)
  Clock::time_point hedge_at = Clock::time_point::max();  // ask the sink for a hedge then
  google::protobuf::Message* response = nullptr;          // the call's, or own_response for a hedge
  std::unique_ptr<google::protobuf::Message> own_response;
  std::vector<std::pair<std::string, std::string>> response_metadata;  // set by the transport with the result
  bool hedge = false;
  // Transport's thread: waits in its transport for room to be written; bytes it holds there.
  bool unwritten = false;
  uint32_t queued_bytes = 0;
  Clock::time_point queued_at;  // when it was encoded (its answer's wait is measured from here)
  // Guarded by call->mu.
  bool active = false;                 // started, not yet ended
  bool cancel = false;                 // cancel requested (checked by Attach)
  std::weak_ptr<Transport> transport;  // where it is in flight
  uint64_t call_id = 0;

  // Reports the attempt's end to the call's sink (kept alive for the duration).
  void Done(Status status, bool not_executed);
  // Hands the attempt to a transport under the call's `mu`: false when it was cancelled first.
  bool Attach(std::weak_ptr<Transport> t, uint64_t id);
};

struct CallData {
  using Clock = std::chrono::steady_clock;
  static constexpr int kMaxAttempts = 3;  // in flight at once: the first and up to two hedges

  // Settings (caller thread, before the call).
  std::chrono::milliseconds timeout{0};
  bool timeout_set = false;
  Clock::time_point deadline = Clock::time_point::max();
  bool deadline_set = false;
  std::vector<std::pair<std::string, std::string>> metadata;
  uint64_t request_key = 0;
  bool has_request_key = false;
  bool idempotent = false;
  std::chrono::milliseconds per_try_timeout{0};
  bool per_try_set = false;

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
  std::vector<std::pair<std::string, std::string>> response_metadata;  // the deciding attempt's
  std::shared_ptr<ClientStreamCore> stream;  // a streaming call's stream (Channel::OpenStream), else null
  bool hedgeable = false;                    // idempotent, and the channel hedges
  std::chrono::milliseconds try_timeout{0};  // resolved per-try timeout (0: none)

  // Cross-thread state (under mu).
  std::mutex mu;
  std::condition_variable cv;
  CallState state = CallState::kActive;
  bool finished = false;
  bool canceled = false;
  std::shared_ptr<CallToken> token;  // created when the call first parks
  google::protobuf::Closure* on_cancel = nullptr;
  Attempt slots[kMaxAttempts];
  int in_flight = 0;                 // attempts active
  int attempts = 0;                  // started so far (retries and hedges included)
  int hedges = 0;                    // hedged attempts started
  int transparent = 0;               // attempts started as transparent retries (not counted by the policy)
  bool hedge_won = false;
  bool decided = false;              // the outcome is known; finishing once in_flight is 0
  Status outcome;
  Attempt* winner = nullptr;         // the attempt whose answer the call returns
  const EndpointLoad* tried[4] = {};  // endpoints already tried (retries and hedges avoid them)
  int n_tried = 0;

  // A transparent retry re-picks an attempt the client knows never ran (never sent, or
  // refused unexecuted by a draining or retiring endpoint) outside the retry policy: it counts
  // toward neither max_attempts nor the retry budget (gRPC's transparent retries).
  static constexpr int kMaxTransparent = 2;

  CallData();
  // Attempts the retry policy counts: all but the transparent ones.
  int policy_attempts() const { return attempts - transparent; }

  // Clears everything but the settings.
  void ResetCall();
  // Parks the call in `s` (kWaitingForList or kBackoff) and returns its token, or null when
  // it was cancelled already (the caller then finishes it CANCELLED).
  std::shared_ptr<CallToken> Park(CallState s);
  // Under mu: a free attempt slot, or null when kMaxAttempts are in flight.
  Attempt* FreeSlot();
  // Completes the call: runs `done` or wakes the blocking caller. Must be the last access.
  void Finish(Status s);
  // Blocks until Finish() ran.
  void Wait();
};

}  // namespace krpc::impl
