// ZkClient: one ZooKeeper session (C client, zookeeper_mt) with a task thread of its own.
// Everything that reacts to ZooKeeper runs on that thread: session listeners, path watches
// (one-shot in ZooKeeper: a handler re-arms by reading again with watch=true), and delayed
// retries. On session expiry it closes the dead handle and opens a new session; listeners
// then see kNewSession and re-create what they own. A ZooKeeper that is down never blocks a
// caller: the handle keeps reconnecting in the background.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "krpc/status.h"

namespace krpc {

class OptionSet;

struct ZkOptions {
  std::string hosts;                 // "h1:2181,h2:2181"; empty = no ZooKeeper
  int session_timeout_ms = 10000;
  std::string digest;                // "user:password": write with this identity, ACL creator-only
  void Register(OptionSet& options); // zk_hosts, zk_session_timeout_ms, zk_digest
  // Every host is host:port and at least one resolves (the others are warned about and used once
  // they resolve); the error names the key ('zk_hosts'). Empty is valid.
  Status Validate() const;
};

class ZkClient {
 public:
  enum class SessionEvent {
    kNewSession,    // connected with a new session (first connect, or after expiry)
    kReconnected,   // connected again within the same session (ephemerals and watches kept)
    kDisconnected,  // connection lost; the session may still be alive
    kExpired,       // the session is gone with its ephemerals; a new one is being opened
  };
  using Clock = std::chrono::steady_clock;

  explicit ZkClient(ZkOptions options);
  ~ZkClient();  // Stop()
  ZkClient(const ZkClient&) = delete;
  ZkClient& operator=(const ZkClient&) = delete;

  // Opens the session in the background.
  Status Start();
  void Stop();
  // True once connected within `timeout`.
  bool WaitConnected(std::chrono::milliseconds timeout);

  // Runs `fn` on the task thread (after `delay`).
  void Post(std::function<void()> fn, std::chrono::milliseconds delay = std::chrono::milliseconds(0));
  // Called on the task thread for every session event.
  void AddSessionListener(std::function<void(SessionEvent)> listener);
  // Called on the task thread when a watch fires for `path` (node created/deleted/changed,
  // children changed). Several handlers may watch one path.
  uint64_t WatchPath(const std::string& path, std::function<void()> handler);
  void Unwatch(uint64_t id);

  // Synchronous operations. Call from the task thread or any thread that is not a ZooKeeper
  // callback. Errors: NOT_FOUND (no such node), ALREADY_EXISTS, PERMISSION_DENIED (ACL),
  // UNAUTHENTICATED, UNAVAILABLE (no connection, session expired or closing), others
  // INTERNAL; the message names the operation, the path and ZooKeeper's reason.
  Status Create(const std::string& path, const std::string& data, bool ephemeral);
  Status Delete(const std::string& path);
  // Replaces a node's data (any version).
  Status Set(const std::string& path, const std::string& data);
  // OK with *exists = false when there is no node.
  Status Exists(const std::string& path, bool watch, bool* exists);
  // `ephemeral_owner` (optional) receives the owning session id (0 for persistent nodes).
  Status Get(const std::string& path, bool watch, std::string* data, int64_t* ephemeral_owner = nullptr);
  Status GetChildren(const std::string& path, bool watch, std::vector<std::string>* children);
  // Reads many nodes at once: every request is sent before any answer is awaited (one round
  // trip for all, not one per node: a service with 1,000 providers). `results[i]` is the status
  // of `paths[i]`, `data[i]` its data when OK. Waits at most the session timeout.
  void GetMany(const std::vector<std::string>& paths, bool watch, std::vector<Status>* results,
               std::vector<std::string>* data);
  // Creates every missing persistent node of `path` (idempotent).
  Status EnsurePath(const std::string& path);

  bool connected() const;
  // "connecting" | "connected" | "expired" | "auth_failed" | "closed"
  std::string state() const;
  int64_t session_id() const;
  // The session password (for tests that expire a session from a second handle).
  std::string session_password() const;
  uint64_t sessions_started() const;
  uint64_t expirations() const;
  const ZkOptions& options() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace krpc
