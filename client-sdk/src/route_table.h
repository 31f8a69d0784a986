// RouteTable: a channel's routes by route key (Resolver::RouteKey: one per service for zk://,
// one for every service of a static target), created on first use and fed by the resolver.
// Lookups read an immutable map (no lock on the call path); creating a route takes a mutex.
#pragma once

#include <google/protobuf/descriptor.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "krpc/impl/snapshot.h"
#include "resolver.h"
#include "route.h"

namespace krpc::impl {

class RouteTable {
 public:
  RouteTable(std::shared_ptr<const RouteConfig> config, std::unique_ptr<Resolver> resolver);
  // Set once, before the first route is made: who resumes and finishes parked calls.
  void set_calls(std::weak_ptr<RouteCalls> calls) { calls_ = std::move(calls); }

  // When every service shares one route (a static target), makes it now, so it shows its
  // endpoints before the first call and a call finds it without a lookup. Call once, before
  // the table is shared.
  void Prepare();
  // The route of a method's service (created and subscribed on first use).
  Route& For(const google::protobuf::MethodDescriptor* method) {
    if (single_) return *single_;
    return *ForService(method->service()->full_name());
  }
  std::shared_ptr<Route> ForService(std::string_view service) { return ForKey(resolver_->RouteKey(service)); }
  std::vector<std::shared_ptr<Route>> All() const;
  // Unsubscribes every route and shuts it down (parked calls fail UNAVAILABLE). Idempotent.
  void Shutdown();

 private:
  std::shared_ptr<Route> ForKey(std::string_view key);
  using Map = std::map<std::string, std::shared_ptr<Route>, std::less<>>;
  const std::shared_ptr<const RouteConfig> config_;
  const std::unique_ptr<Resolver> resolver_;
  std::weak_ptr<RouteCalls> calls_;
  std::shared_ptr<Route> single_;  // set by Prepare() when every service shares one route
  Snapshot<Map> routes_{std::make_shared<const Map>()};
  std::mutex mu_;  // creating routes, the subscriptions, shutting down
  std::map<std::string, uint64_t, std::less<>> subscriptions_;
  bool shut_down_ = false;
};

}  // namespace krpc::impl
