// ClientRuntime: what client channels of one process share: the I/O threads and, for zk://
// targets, one ZooKeeper session per ensemble (never one per call or per channel). Pass one
// runtime to every Channel::Create.
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace krpc {

struct ZkOptions;
class ZkClient;
class Channel;
class ClientObserver;

namespace impl {
class IoPool;
class RuntimeAccess;
class ZkDiscovery;
}  // namespace impl

class ClientRuntime {
 public:
  // io_threads <= 0: one per core.
  static std::shared_ptr<ClientRuntime> Create(int io_threads = 0);
  ~ClientRuntime();

  // Metrics hooks for every channel created afterwards.
  void SetObserver(std::shared_ptr<ClientObserver> observer);
  std::shared_ptr<ClientObserver> observer() const;
  // Live channels created from this runtime (for status pages and metrics).
  std::vector<std::shared_ptr<Channel>> Channels();
  // Provider-list updates delivered by discovery, all ensembles together.
  uint64_t DiscoveryUpdates();

 private:
  friend class impl::RuntimeAccess;  // the channel's internals (client-sdk/src/runtime_access.h)
  explicit ClientRuntime(int io_threads);
  impl::IoPool& io();
  // The process's session to the ensemble `options.hosts` (created and started on first use).
  std::shared_ptr<ZkClient> ZooKeeper(const ZkOptions& options);
  // Provider discovery under `root` of that ensemble (shared by every channel using it).
  std::shared_ptr<impl::ZkDiscovery> Discovery(const ZkOptions& options, const std::string& root);
  void Track(const std::shared_ptr<Channel>& channel);

  struct State;  // the I/O threads, sessions, discoveries, observer and channels (client_runtime.cc)
  std::unique_ptr<State> state_;
};

}  // namespace krpc
