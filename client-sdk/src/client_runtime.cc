// ClientRuntime: the I/O threads, ZooKeeper sessions and discovery caches that channels of
// one process share.
#include "krpc/client_runtime.h"

#include "krpc/channel.h"
#include "krpc/impl/io_pool.h"
#include "krpc/zk_client.h"
#include "zk_discovery.h"

namespace krpc {

std::shared_ptr<ClientRuntime> ClientRuntime::Create(int io_threads) {
  return std::shared_ptr<ClientRuntime>(new ClientRuntime(io_threads));
}

ClientRuntime::ClientRuntime(int io_threads) : pool_(std::make_unique<impl::IoPool>(io_threads, "krpc-cli")) {}

ClientRuntime::~ClientRuntime() {
  discovery_.clear();
  for (auto& [hosts, zk] : zk_) zk->Stop();
}

impl::IoPool& ClientRuntime::io() { return *pool_; }

void ClientRuntime::SetObserver(std::shared_ptr<ClientObserver> observer) {
  std::lock_guard lock(mu_);
  observer_ = std::move(observer);
}

std::shared_ptr<ClientObserver> ClientRuntime::observer() const {
  std::lock_guard lock(const_cast<std::mutex&>(mu_));
  return observer_;
}

void ClientRuntime::Track(const std::shared_ptr<Channel>& channel) {
  std::lock_guard lock(mu_);
  std::erase_if(channels_, [](const auto& w) { return w.expired(); });
  channels_.push_back(channel);
}

std::vector<std::shared_ptr<Channel>> ClientRuntime::Channels() {
  std::lock_guard lock(mu_);
  std::vector<std::shared_ptr<Channel>> out;
  for (auto& w : channels_) {
    if (auto c = w.lock()) out.push_back(std::move(c));
  }
  return out;
}

uint64_t ClientRuntime::DiscoveryUpdates() {
  std::lock_guard lock(mu_);
  uint64_t n = 0;
  for (auto& [k, d] : discovery_) n += d->updates();
  return n;
}

std::shared_ptr<ZkClient> ClientRuntime::ZooKeeper(const ZkOptions& options) {
  std::lock_guard lock(mu_);
  auto& zk = zk_[options.hosts];
  if (!zk) {
    zk = std::make_shared<ZkClient>(options);
    (void)zk->Start();
  }
  return zk;
}

std::shared_ptr<impl::ZkDiscovery> ClientRuntime::Discovery(const ZkOptions& options, const std::string& root) {
  auto zk = ZooKeeper(options);
  std::lock_guard lock(mu_);
  auto& d = discovery_[options.hosts + registry::NormalizeRoot(root)];
  if (!d) {
    d = std::make_shared<impl::ZkDiscovery>(zk, root);
    d->Start();
  }
  return d;
}

}  // namespace krpc
