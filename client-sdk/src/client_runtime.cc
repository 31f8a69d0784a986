// ClientRuntime: the I/O threads, ZooKeeper sessions and discovery caches that channels of
// one process share.
#include "krpc/client_runtime.h"

#include <map>
#include <mutex>
#include <vector>

#include "krpc/channel.h"
#include "krpc/impl/io_pool.h"
#include "krpc/zk_client.h"
#include "zk_discovery.h"

namespace krpc {

std::shared_ptr<ClientRuntime> ClientRuntime::Create(int io_threads) {
  return std::shared_ptr<ClientRuntime>(new ClientRuntime(io_threads));
}

struct ClientRuntime::State {
  std::unique_ptr<impl::IoPool> pool;
  mutable std::mutex mu;
  std::map<std::string, std::shared_ptr<ZkClient>> zk;
  std::map<std::string, std::shared_ptr<impl::ZkDiscovery>> discovery;
  std::shared_ptr<ClientObserver> observer;
  std::vector<std::weak_ptr<Channel>> channels;
};

ClientRuntime::ClientRuntime(int io_threads) : state_(std::make_unique<State>()) {
  state_->pool = std::make_unique<impl::IoPool>(io_threads, "krpc-cli");
}

ClientRuntime::~ClientRuntime() {
  state_->discovery.clear();
  for (auto& [hosts, zk] : state_->zk) zk->Stop();
}

impl::IoPool& ClientRuntime::io() { return *state_->pool; }

void ClientRuntime::SetObserver(std::shared_ptr<ClientObserver> observer) {
  std::lock_guard lock(state_->mu);
  state_->observer = std::move(observer);
}

std::shared_ptr<ClientObserver> ClientRuntime::observer() const {
  std::lock_guard lock(state_->mu);
  return state_->observer;
}

void ClientRuntime::Track(const std::shared_ptr<Channel>& channel) {
  std::lock_guard lock(state_->mu);
  std::erase_if(state_->channels, [](const auto& w) { return w.expired(); });
  state_->channels.push_back(channel);
}

std::vector<std::shared_ptr<Channel>> ClientRuntime::Channels() {
  std::lock_guard lock(state_->mu);
  std::vector<std::shared_ptr<Channel>> out;
  for (auto& w : state_->channels) {
    if (auto c = w.lock()) out.push_back(std::move(c));
  }
  return out;
}

uint64_t ClientRuntime::DiscoveryUpdates() {
  std::lock_guard lock(state_->mu);
  uint64_t n = 0;
  for (auto& [k, d] : state_->discovery) n += d->updates();
  return n;
}

std::shared_ptr<ZkClient> ClientRuntime::ZooKeeper(const ZkOptions& options) {
  std::lock_guard lock(state_->mu);
  auto& zk = state_->zk[options.hosts];
  if (!zk) {
    zk = std::make_shared<ZkClient>(options);
    (void)zk->Start();
  }
  return zk;
}

std::shared_ptr<impl::ZkDiscovery> ClientRuntime::Discovery(const ZkOptions& options, const std::string& root) {
  auto zk = ZooKeeper(options);
  std::lock_guard lock(state_->mu);
  auto& d = state_->discovery[options.hosts + registry::NormalizeRoot(root)];
  if (!d) {
    d = std::make_shared<impl::ZkDiscovery>(zk, root);
    d->Start();
  }
  return d;
}

}  // namespace krpc
