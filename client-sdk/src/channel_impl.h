// Channel::Impl: the target's endpoint set (an immutable snapshot swapped on changes, so
// picking takes no lock), the pick, and the completion of attempts.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "call_data.h"
#include "krpc/channel.h"
#include "krpc/client_runtime.h"
#include "subchannel.h"

namespace krpc {

// The endpoints a channel spreads calls over, at one moment.
struct EndpointSet {
  std::vector<std::shared_ptr<impl::Subchannel>> subchannels;
};

struct Channel::Impl final : impl::AttemptSink {
  ChannelOptions options;
  std::shared_ptr<ClientRuntime> runtime;
  std::string target;
  std::atomic<std::shared_ptr<const EndpointSet>> endpoints;
  std::atomic<uint64_t> rr{0};
  std::atomic<bool> shut_down{false};
  std::mutex update_mu;  // serializes endpoint-set updates (never taken by calls)

  // Replaces the endpoint set, keeping subchannels (and their connections) of endpoints
  // that stay; shuts down the ones that left.
  void UpdateEndpoints(const std::vector<Endpoint>& endpoints);
  std::shared_ptr<impl::Subchannel> Pick(impl::CallData* call);
  void StartAttempt(impl::CallData* call);
  void OnAttemptDone(impl::CallData* call, Status status, bool not_executed) override;
  impl::TransportOptions transport_options() const;
  impl::BackoffOptions backoff_options() const;
};

}  // namespace krpc
