// The states a channel reports for each endpoint (Channel::Endpoints(), /status, metrics).
#pragma once

#include <cstdint>
#include <string_view>

namespace krpc {

// The connection state of one endpoint.
enum class EndpointState : uint8_t { kIdle, kConnecting, kReady, kBackoff, kShutdown };
// The endpoint's circuit breaker; the values are those of the krpc_client_breaker_state gauge.
enum class BreakerState : uint8_t { kClosed = 0, kHalfOpen = 1, kOpen = 2 };

// "idle", "connecting", "ready", "backoff", "shutdown".
std::string_view ToString(EndpointState s);
// "closed", "half_open", "open".
std::string_view ToString(BreakerState s);

}  // namespace krpc
