// ZkDiscovery: provider lists per service from ZooKeeper, fed by child and data watches
// (re-armed on every event and after every reconnect). Each provider's data is read once and
// kept until its data watch fires: a provider joining a 1,000-provider service costs a read of
// the children and of that one provider, not of all 1,000. Keeps the last known list while
// ZooKeeper is unreachable, and when it answers with an empty list after having had
// providers (the registry's "empty protection"). Listeners run on the ZooKeeper thread.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "krpc/registry_layout.h"
#include "krpc/zk_client.h"

namespace krpc::impl {

class ZkDiscovery : public std::enable_shared_from_this<ZkDiscovery> {
 public:
  using Providers = std::vector<registry::ProviderInfo>;
  using Listener = std::function<void(const Providers&)>;

  ZkDiscovery(std::shared_ptr<ZkClient> zk, std::string root);
  ~ZkDiscovery();
  // Must be called once after construction (registers the session listener).
  void Start();

  // The listener gets the current list at once if known, then every change.
  uint64_t Subscribe(const std::string& service, Listener listener);
  void Unsubscribe(uint64_t id);
  // Counters for status pages: discovery updates delivered, empty lists ignored.
  uint64_t updates() const { return updates_.load(); }
  uint64_t empty_ignored() const { return empty_ignored_.load(); }
  const std::shared_ptr<ZkClient>& zk() const { return zk_; }
  const std::string& root() const { return root_; }

 private:
  struct Service {
    std::string name;
    Providers last;
    bool known = false;
    std::map<uint64_t, Listener> listeners;
    std::map<std::string, uint64_t> watches;  // path -> ZkClient watch id
    std::map<std::string, std::string> data;  // provider path -> its data as last read (watch armed)
  };
  void Refresh(const std::string& service);   // ZooKeeper thread
  void RefreshAll(bool forget_data);
  void Watch(Service& s, const std::string& path);

  std::shared_ptr<ZkClient> zk_;
  std::string root_;
  std::mutex mu_;
  std::map<std::string, Service> services_;
  uint64_t next_id_ = 1;
  std::atomic<uint64_t> updates_{0};
  std::atomic<uint64_t> empty_ignored_{0};
};

}  // namespace krpc::impl
