// ZkClient::Impl, shared by the session half (zk_client.cc: the handle, the task thread,
// session events, watches) and the operations half (zk_operations.cc: create, delete, reads).
#pragma once

#include <zookeeper/zookeeper.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "krpc/impl/zk_ensemble.h"
#include "krpc/log.h"
#include "krpc/zk_client.h"

namespace krpc {

struct ZkClient::Impl : std::enable_shared_from_this<Impl> {
  ZkOptions options;
  std::shared_ptr<spdlog::logger> log = log::Get("registry");

  mutable std::shared_mutex handle_mu;  // shared: operations; exclusive: replacing the handle
  zhandle_t* zh = nullptr;
  std::atomic<int> state{0};
  std::atomic<int64_t> session{0};
  std::string password;
  std::atomic<uint64_t> sessions_started{0};
  std::atomic<uint64_t> expirations{0};
  int64_t last_session = 0;
  bool was_connected = false;
  std::string addresses;         // the resolved host list the handle was given (task thread)
  std::string unresolved_text;   // names that did not resolve last time, for logging changes once

  // How often the ensemble's names are resolved again (a replaced server's new address, or one
  // whose name disappeared and came back).
  static constexpr auto kResolveInterval = std::chrono::seconds(5);

  std::mutex mu;  // tasks, listeners, watches
  std::condition_variable cv;
  std::multimap<Clock::time_point, std::function<void()>> tasks;
  std::vector<std::function<void(SessionEvent)>> listeners;
  std::multimap<std::string, std::pair<uint64_t, std::function<void()>>> watches;
  uint64_t next_watch = 1;
  bool stopping = false;
  std::thread thread;

  std::mutex connected_mu;
  std::condition_variable connected_cv;

  static void Watcher(zhandle_t* zh, int type, int state, const char* path, void* ctx);
  void Open();
  ResolvedEnsemble Resolve();
  void Reresolve();
  void OnSessionEvent(zhandle_t* from, int state);
  void OnNodeEvent(const std::string& path);
  void Emit(SessionEvent e);
  void Run();
  void Enqueue(std::function<void()> fn, Clock::duration delay);
};

}  // namespace krpc
