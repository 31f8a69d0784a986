// Resolver: where a channel's endpoints come from, behind one interface so that no code
// branches on the kind of target. A static target (host:port, static://h1:p1,h2:p2) resolves
// every service to one fixed list, served by one route; a zk:// target resolves each service to
// the providers ZooKeeper has for it (ZkDiscovery), one route per service. DNS would be a third.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "krpc/registry_layout.h"

namespace krpc::impl {

class ZkDiscovery;

class Resolver {
 public:
  using Providers = std::vector<registry::ProviderInfo>;
  using Listener = std::function<void(const Providers&)>;
  virtual ~Resolver() = default;
  // The route a service's calls take: services with the same key share a route. The key is
  // `service` itself or a constant (no copy on the call path).
  virtual std::string_view RouteKey(std::string_view service) const = 0;
  // Every service shares one route (key ""), made and resolved before any call.
  virtual bool OneRouteForAll() const { return false; }
  // Watches the providers of a route key: `listener` gets the current list once it is known
  // (at once, or later on a resolver thread), then every change. Returns an id for
  // Unsubscribe.
  virtual uint64_t Subscribe(const std::string& key, Listener listener) = 0;
  virtual void Unsubscribe(uint64_t id) = 0;
};

// One fixed list for every service.
class StaticResolver final : public Resolver {
 public:
  explicit StaticResolver(Providers providers) : providers_(std::move(providers)) {}
  std::string_view RouteKey(std::string_view) const override { return {}; }
  bool OneRouteForAll() const override { return true; }
  uint64_t Subscribe(const std::string&, Listener listener) override {
    listener(providers_);
    return 0;
  }
  void Unsubscribe(uint64_t) override {}

 private:
  const Providers providers_;
};

// The providers registered in ZooKeeper, per service.
class ZkResolver final : public Resolver {
 public:
  explicit ZkResolver(std::shared_ptr<ZkDiscovery> discovery) : discovery_(std::move(discovery)) {}
  std::string_view RouteKey(std::string_view service) const override { return service; }
  uint64_t Subscribe(const std::string& key, Listener listener) override;
  void Unsubscribe(uint64_t id) override;

 private:
  const std::shared_ptr<ZkDiscovery> discovery_;
};

}  // namespace krpc::impl
