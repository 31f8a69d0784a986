#include "zk_discovery.h"

#include <algorithm>
#include <random>

#include "krpc/log.h"

namespace krpc::impl {

ZkDiscovery::ZkDiscovery(std::shared_ptr<ZkClient> zk, std::string root)
    : zk_(std::move(zk)), root_(registry::NormalizeRoot(root)) {}

ZkDiscovery::~ZkDiscovery() {
  std::lock_guard lock(mu_);
  for (auto& [name, s] : services_) {
    for (auto& [path, id] : s.watches) zk_->Unwatch(id);
  }
}

void ZkDiscovery::Start() {
  std::weak_ptr<ZkDiscovery> weak = shared_from_this();
  zk_->AddSessionListener([weak](ZkClient::SessionEvent e) {
    auto self = weak.lock();
    if (!self) return;
    if (e == ZkClient::SessionEvent::kNewSession || e == ZkClient::SessionEvent::kReconnected) {
      // Re-read everything (and re-arm the watches) a little later, spread out so that many
      // clients reconnecting at once do not hit ZooKeeper together. Cached provider data is
      // dropped: a new session has no watches, and changes may have been missed meanwhile.
      static thread_local std::minstd_rand rng(std::random_device{}());
      self->zk_->Post([weak] {
        if (auto s = weak.lock()) s->RefreshAll(true);
      }, std::chrono::milliseconds(rng() % 200));
    }
  });
}

uint64_t ZkDiscovery::Subscribe(const std::string& service, Listener listener) {
  uint64_t id;
  bool first = false;
  Providers current;
  bool known = false;
  {
    std::lock_guard lock(mu_);
    id = next_id_++;
    auto [it, inserted] = services_.try_emplace(service);
    first = inserted;
    it->second.name = service;
    it->second.listeners.emplace(id, listener);
    known = it->second.known;
    current = it->second.last;
  }
  if (known) {
    zk_->Post([listener, current] { listener(current); });
  }
  if (first) {
    std::weak_ptr<ZkDiscovery> weak = shared_from_this();
    zk_->Post([weak, service] {
      if (auto s = weak.lock()) s->Refresh(service);
    });
  }
  return id;
}

void ZkDiscovery::Unsubscribe(uint64_t id) {
  std::lock_guard lock(mu_);
  for (auto& [name, s] : services_) s.listeners.erase(id);
}

void ZkDiscovery::Watch(Service& s, const std::string& path) {
  if (s.watches.count(path)) return;
  std::weak_ptr<ZkDiscovery> weak = shared_from_this();
  const std::string name = s.name;
  s.watches[path] = zk_->WatchPath(path, [weak, name, path] {
    auto self = weak.lock();
    if (!self) return;
    {
      std::lock_guard lock(self->mu_);  // a provider's data changed (or it left): read it again
      if (auto it = self->services_.find(name); it != self->services_.end()) it->second.data.erase(path);
    }
    self->Refresh(name);
  });
}

void ZkDiscovery::RefreshAll(bool forget_data) {
  std::vector<std::string> names;
  {
    std::lock_guard lock(mu_);
    for (auto& [name, s] : services_) {
      names.push_back(name);
      if (forget_data) s.data.clear();
    }
  }
  for (const auto& n : names) Refresh(n);
}

void ZkDiscovery::Refresh(const std::string& service) {
  const std::string parent = registry::ProvidersPath(root_, service);
  {
    std::lock_guard lock(mu_);
    Watch(services_[service], parent);
  }
  std::vector<std::string> children;
  Status rc;
  for (int attempt = 0; attempt < 3; ++attempt) {
    rc = zk_->GetChildren(parent, true, &children);  // arms the child watch
    if (rc.code() != StatusCode::kNotFound) break;
    // No providers node yet: watch for its creation. If it appeared in between, `exists` set
    // only a data watch, so read the children again to arm the child watch.
    bool exists = false;
    rc = zk_->Exists(parent, true, &exists);
    children.clear();
    if (!rc.ok() || !exists) break;
  }
  if (!rc.ok()) return;  // ZooKeeper unreachable: keep the last list; reconnect re-reads
  // Providers whose data is not known yet (new, changed, or after a reconnect) are read in one
  // pipelined batch: one round trip to ZooKeeper however many there are.
  std::vector<std::pair<std::string, Endpoint>> present;  // path, endpoint
  std::vector<std::string> asked;
  {
    std::lock_guard lock(mu_);
    const auto& cached = services_[service].data;
    for (const auto& child : children) {
      auto ep = ParseEndpoint(child);
      if (!ep.ok()) continue;
      present.emplace_back(parent + "/" + child, ep.value());
      if (!cached.count(present.back().first)) asked.push_back(present.back().first);
    }
  }
  std::vector<Status> got;
  std::vector<std::string> data;
  if (!asked.empty()) zk_->GetMany(asked, true, &got, &data);
  for (const auto& st : got) {
    // The connection dropped partway: a list without the providers not read would be partial
    // (and not empty, so empty protection would not catch it). Keep the last list; the
    // reconnect re-reads everything. A provider that is gone (NOT_FOUND) is simply left out.
    if (st.code() == StatusCode::kUnavailable) {
      log::Get("registry")->warn("reading the providers of {} failed ({}); keeping the last list", service, st.message());
      return;
    }
  }
  Providers next;
  std::set<std::string> paths;
  {
    std::lock_guard lock(mu_);
    auto& cached = services_[service].data;
    for (size_t i = 0; i < asked.size(); ++i) {
      if (got[i].ok()) cached[asked[i]] = std::move(data[i]);  // else gone meanwhile (or unreadable)
    }
    for (const auto& [path, endpoint] : present) {
      auto it = cached.find(path);
      if (it == cached.end()) continue;
      paths.insert(path);
      auto info = registry::ProviderInfo::FromJson(it->second, endpoint);
      if (!info) {
        log::Get("registry")->warn("ignoring provider {}: unparsable data '{}'", path, it->second);
        continue;
      }
      next.push_back(std::move(*info));
    }
    std::erase_if(cached, [&](const auto& kv) { return !paths.count(kv.first); });  // providers that left
  }
  std::sort(next.begin(), next.end(), [](const auto& a, const auto& b) { return a.endpoint < b.endpoint; });
  std::map<uint64_t, Listener> listeners;
  {
    std::lock_guard lock(mu_);
    auto& s = services_[service];
    for (const auto& p : paths) Watch(s, p);
    for (auto it = s.watches.begin(); it != s.watches.end();) {  // providers that left
      if (it->first != parent && !paths.count(it->first)) {
        zk_->Unwatch(it->second);
        it = s.watches.erase(it);
      } else {
        ++it;
      }
    }
    if (next.empty() && !s.last.empty()) {
      empty_ignored_.fetch_add(1);
      log::Get("registry")->warn("ZooKeeper lists no providers for {}; keeping the last {} known", service,
                                 s.last.size());
      return;
    }
    if (s.known && next == s.last) return;
    s.last = next;
    s.known = true;
    listeners = s.listeners;
  }
  updates_.fetch_add(1);
  log::Get("registry")->info("{}: {} provider(s)", service, next.size());
  for (auto& [id, l] : listeners) l(next);
}

}  // namespace krpc::impl
