// Server::Impl: the listener, the table of live connections and the stop state. Accepting is
// the Listener's (server_listener.h), the protocol choice and TLS handshakes an
// IncomingConnection's; security set-up is in server_security.cc; start, stop and stats in
// server.cc.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "authz_policy.h"
#include "connection_table.h"
#include "health_service.h"
#include "krpc/server.h"
#include "grpc_reflection_service.h"
#include "reflection_service.h"
#include "server_listener.h"
#include "server_shared.h"

namespace krpc {

struct Server::Impl {
  std::shared_ptr<node::ServerShared> shared = std::make_shared<node::ServerShared>();
  std::shared_ptr<node::ConnectionTable> conns = std::make_shared<node::ConnectionTable>();
  std::shared_ptr<node::Listener> listener;  // from Start() until the stop is complete
  uint16_t port = 0;
  bool started = false;
  bool stopped = false;
  std::mutex mu;  // guards the stop state; never taken on the call path
  std::unique_ptr<node::HealthServiceImpl> health;
  std::unique_ptr<node::ReflectionServiceImpl> reflection;  // unless options.reflection is false
  std::unique_ptr<node::ReflectionV1> reflection_v1;        // gRPC's, both versions, likewise
  std::unique_ptr<node::ReflectionV1Alpha> reflection_v1alpha;
  node::AuthzPolicy authz;
  // Builds the TLS context and the authorization rules from the options (at Start).
  Status ConfigureSecurity();
  // max_inflight=auto and method_max_inflight (server_overload.cc).
  Status ConfigureOverload();
};

}  // namespace krpc
