#include "resolver.h"

#include "zk_discovery.h"

namespace krpc::impl {

uint64_t ZkResolver::Subscribe(const std::string& key, Listener listener) {
  return discovery_->Subscribe(key, std::move(listener));
}

void ZkResolver::Unsubscribe(uint64_t id) { discovery_->Unsubscribe(id); }

}  // namespace krpc::impl
