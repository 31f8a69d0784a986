// ConnectionTable: the server's live connections, for the drain (GOAWAY to each) and the stop
// (close each). Holds them weakly: a connection lives by its own pending operations.
//
// Thread-safe (one mutex, never taken on the call path).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "call_host.h"

namespace krpc::node {

class ConnectionTable {
 public:
  // A new connection's id.
  uint64_t NextId() {
    std::lock_guard lock(mu_);
    return next_id_++;
  }
  void Add(uint64_t id, std::weak_ptr<CallHost> connection) {
    std::lock_guard lock(mu_);
    conns_.emplace(id, std::move(connection));
    if (conns_.size() > 64 && conns_.size() % 64 == 0) {
      std::erase_if(conns_, [](const auto& kv) { return kv.second.expired(); });
    }
  }
  std::vector<std::shared_ptr<CallHost>> Live() {
    std::vector<std::shared_ptr<CallHost>> out;
    std::lock_guard lock(mu_);
    for (auto& [id, weak] : conns_) {
      if (auto c = weak.lock()) out.push_back(std::move(c));
    }
    return out;
  }

 private:
  std::mutex mu_;
  std::unordered_map<uint64_t, std::weak_ptr<CallHost>> conns_;
  uint64_t next_id_ = 1;
};

}  // namespace krpc::node
