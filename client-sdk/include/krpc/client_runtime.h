// ClientRuntime: the I/O threads client channels run on. One per process is typical; pass it
// to every Channel::Create so they share threads (and, for zk:// targets, one ZooKeeper session).
#pragma once

#include <memory>

namespace krpc {

namespace impl {
class IoPool;
}

class ClientRuntime {
 public:
  // io_threads <= 0: one per core.
  static std::shared_ptr<ClientRuntime> Create(int io_threads = 0);
  ~ClientRuntime();

  impl::IoPool& io();

 private:
  explicit ClientRuntime(int io_threads);
  std::unique_ptr<impl::IoPool> pool_;
};

}  // namespace krpc
