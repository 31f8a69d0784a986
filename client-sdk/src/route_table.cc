#include "route_table.h"

namespace krpc::impl {

RouteTable::RouteTable(std::shared_ptr<const RouteConfig> config, std::unique_ptr<Resolver> resolver)
    : config_(std::move(config)), resolver_(std::move(resolver)) {}

void RouteTable::Prepare() {
  if (resolver_->OneRouteForAll()) single_ = ForKey("");
}

std::shared_ptr<Route> RouteTable::ForKey(std::string_view key) {
  auto map = routes_.load();
  if (auto it = map->find(key); it != map->end()) return it->second;
  std::lock_guard lock(mu_);
  map = routes_.load();
  if (auto it = map->find(key); it != map->end()) return it->second;
  auto route = std::make_shared<Route>(config_, std::string(key), calls_);
  auto next = std::make_shared<Map>(*map);
  next->emplace(std::string(key), route);
  routes_.store(next);
  if (shut_down_) return route;  // a late lookup: the route never serves
  route->StartSweep();
  subscriptions_[std::string(key)] = resolver_->Subscribe(std::string(key), [weak = std::weak_ptr<Route>(route)](const auto& providers) {
    if (auto r = weak.lock()) r->Update(providers);
  });
  return route;
}

std::vector<std::shared_ptr<Route>> RouteTable::All() const {
  std::vector<std::shared_ptr<Route>> out;
  for (const auto& [key, r] : *routes_.load()) out.push_back(r);
  return out;
}

void RouteTable::Shutdown() {
  {
    std::lock_guard lock(mu_);
    if (shut_down_) return;
    shut_down_ = true;
    for (const auto& [key, id] : subscriptions_) resolver_->Unsubscribe(id);
    subscriptions_.clear();
  }
  for (const auto& r : All()) r->Shutdown();
}

}  // namespace krpc::impl
