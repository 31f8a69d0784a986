// ClientRuntime: what client channels of one process share: the I/O threads and, for zk://
// targets, one ZooKeeper session per ensemble (never one per call or per channel). Pass one
// runtime to every Channel::Create.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace krpc {

struct ZkOptions;
class ZkClient;

namespace impl {
class IoPool;
class ZkDiscovery;
}  // namespace impl

class ClientRuntime {
 public:
  // io_threads <= 0: one per core.
  static std::shared_ptr<ClientRuntime> Create(int io_threads = 0);
  ~ClientRuntime();

  impl::IoPool& io();
  // The process's session to the ensemble `options.hosts` (created and started on first use).
  std::shared_ptr<ZkClient> ZooKeeper(const ZkOptions& options);
  // Provider discovery under `root` of that ensemble (shared by every channel using it).
  std::shared_ptr<impl::ZkDiscovery> Discovery(const ZkOptions& options, const std::string& root);

 private:
  explicit ClientRuntime(int io_threads);
  std::unique_ptr<impl::IoPool> pool_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<ZkClient>> zk_;
  std::map<std::string, std::shared_ptr<impl::ZkDiscovery>> discovery_;
};

}  // namespace krpc
