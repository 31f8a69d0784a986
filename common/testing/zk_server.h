// ZkServer: a real ZooKeeper server for tests, from Debian's `zookeeper` package, on a free
// loopback port with its own temporary data directory. Stop()/Start() keep the port and data
// (so sessions can survive a restart, as in production).
#pragma once

#include <string>
#include <vector>

#include <sys/types.h>
#include <time.h>

#include <chrono>
#include <cstdint>
#include <string>

namespace krpc::testing {

class ZkServer {
 public:
  ZkServer();
  ~ZkServer();
  ZkServer(const ZkServer&) = delete;
  ZkServer& operator=(const ZkServer&) = delete;

  // Starts the server and waits until it answers "ruok"; false if it does not within 30 s.
  bool Start();
  // SIGKILL, like a crash; the data directory stays.
  void Stop();
  bool running() const { return pid_ > 0; }
  std::string hosts() const { return "127.0.0.1:" + std::to_string(port_); }
  uint16_t port() const { return port_; }

  // Expires a session the way ZooKeeper's own tests do: a second handle with the same
  // session id and password connects, then closes.
  static bool ExpireSession(const std::string& hosts, int64_t session_id, const std::string& password);
  // Repeats ExpireSession until `current_session()` reports a different session (the trick
  // races with the original handle reconnecting first); false after `attempts` tries.
  template <typename F>
  static bool ExpireUntilReplaced(const std::string& hosts, F current_session, const std::string& password,
                                  int attempts = 10);

 private:
  bool Ready() const;
  uint16_t port_ = 0;
  std::string dir_;
  pid_t pid_ = -1;
};

template <typename F>
bool ZkServer::ExpireUntilReplaced(const std::string& hosts, F current_session, const std::string& password,
                                   int attempts) {
  const int64_t first = current_session();
  for (int i = 0; i < attempts; ++i) {
    ExpireSession(hosts, first, password);
    for (int k = 0; k < 100; ++k) {
      const int64_t now = current_session();
      if (now != first && now != 0) return true;
      struct timespec ts = {0, 30 * 1000 * 1000};
      nanosleep(&ts, nullptr);
    }
  }
  return false;
}

// For a forked child before exec: closes every inherited descriptor above stderr, so the
// child does not keep the parent's listening sockets alive (connects would land in its backlog).
void CloseInheritedFds();

// A free TCP port on 127.0.0.1 (bound then released: another process may take it later).
uint16_t FreePort();

// A loopback port bound but never listened on, held while this lives: a connect to it is
// refused at once, and no other process can take the port meanwhile.
class RefusingPort {
 public:
  RefusingPort();
  ~RefusingPort();
  RefusingPort(const RefusingPort&) = delete;
  RefusingPort& operator=(const RefusingPort&) = delete;
  uint16_t port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  int fd_;
  uint16_t port_ = 0;
};

// Runs `path` with `args` (argv[1..]) in a child process whose stdout and stderr go to
// /dev/null and which inherits no other descriptor; returns its pid. The destructor of the
// returned guard kills (SIGCONT, then SIGKILL) and reaps it.
struct ChildProcess {
  int pid = -1;
  ChildProcess() = default;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess();
};
void SpawnQuiet(const char* path, const std::vector<std::string>& args, ChildProcess* child);

}  // namespace krpc::testing
