// The subchannel's health checks (its ProbeSender side): one krpc.health.v1 Check at a time on
// the endpoint's own connections, with its own short deadline; the outlier detector decides
// what a result means and whether another one goes out.
#include "krpc/health.pb.h"
#include "subchannel.h"

namespace krpc::impl {

// A health check on this endpoint, with its own short deadline; the outlier detector decides
// what its result means and whether another one goes out.
class Subchannel::Probe final : public AttemptSink, public std::enable_shared_from_this<Probe> {
 public:
  Probe(std::weak_ptr<Subchannel> owner, std::chrono::milliseconds timeout) : owner_(std::move(owner)), timeout_(timeout) {}
  void OnAttemptDone(Attempt* a, Status status, bool) override {
    {
      std::lock_guard lock(call_.mu);
      a->active = false;
    }
    auto keep = std::move(call_.sink);  // the probe lives until this returns
    if (auto owner = owner_.lock()) {
      if (status.ok()) owner->load_->MarkProgress(Clock::now());
      // A gRPC server without gRPC's health service answers UNIMPLEMENTED: it is up and
      // serving RPCs, which is what the probe asks.
      const bool no_health_service =
          status.code() == StatusCode::kUnimplemented && owner->options_.connection.protocol == WireProtocol::kGrpc;
      owner->outlier_->OnProbeDone(no_health_service ||
                                   (status.ok() && response_.status() == health::v1::HealthCheckResponse::SERVING));
      owner->load_->RearmStallReport();  // a stall still there is reported again
    }
  }
  void OnCanceledWhileParked(CallData* call) override { OnAttemptDone(&call->slots[0], Status(StatusCode::kCancelled, ""), true); }
  void Next(Subchannel& owner) {
    call_.ResetCall();
    response_.Clear();
    call_.method = health::v1::Health::descriptor()->FindMethodByName("Check");
    call_.request = &request_;
    call_.response = &response_;
    call_.sink = shared_from_this();  // a transport that outlives the subchannel can still finish it
    call_.start = CallData::Clock::now();
    call_.deadline = call_.start + timeout_;
    Attempt* a = &call_.slots[0];
    {
      std::lock_guard lock(call_.mu);
      a->active = true;
    }
    a->start = call_.start;
    a->deadline = call_.deadline;
    a->response = &response_;
    owner.StartOnLoop(a);
  }

 private:
  const std::weak_ptr<Subchannel> owner_;
  const std::chrono::milliseconds timeout_;
  CallData call_;
  health::v1::HealthCheckRequest request_;
  health::v1::HealthCheckResponse response_;
};

void Subchannel::SendProbe() {
  if (!probe_) probe_ = std::make_shared<Probe>(weak_from_this(), std::chrono::milliseconds(options_.breaker.probe_timeout_ms));
  probe_->Next(*this);
}

}  // namespace krpc::impl
