#include "zk_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zookeeper/zookeeper.h>

#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace krpc::testing {

RefusingPort::RefusingPort() : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    if (fd_ >= 0) ::close(fd_);  // the destructor does not run for a throwing constructor
    throw std::runtime_error("RefusingPort: cannot bind a loopback port");
  }
  port_ = ntohs(addr.sin_port);
}

RefusingPort::~RefusingPort() { ::close(fd_); }

uint16_t FreePort() { return RefusingPort().port(); }

ChildProcess::~ChildProcess() {
  if (pid <= 0) return;
  ::kill(pid, SIGCONT);
  if (::kill(pid, SIGKILL) == 0) ::waitpid(pid, nullptr, 0);
}

void SpawnQuiet(const char* path, const std::vector<std::string>& args, ChildProcess* child) {
  std::vector<std::string> storage(args);
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(path));
  for (auto& a : storage) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int devnull = ::open("/dev/null", O_WRONLY);
    ::dup2(devnull, 1);
    ::dup2(devnull, 2);
    CloseInheritedFds();
    ::execv(path, argv.data());
    ::_exit(127);
  }
  child->pid = pid;
}

void CloseInheritedFds() {
  const long max = ::sysconf(_SC_OPEN_MAX);
  for (int fd = 3; fd < (max > 0 ? max : 4096); ++fd) ::close(fd);
}

ZkServer::ZkServer() {
  char tmpl[] = "/tmp/krpc-zk-XXXXXX";
  dir_ = ::mkdtemp(tmpl);
  port_ = FreePort();
  std::filesystem::create_directories(dir_ + "/data");
  std::ofstream cfg(dir_ + "/zoo.cfg");
  cfg << "tickTime=500\n"
      << "dataDir=" << dir_ << "/data\n"
      << "clientPort=" << port_ << "\n"
      << "clientPortAddress=127.0.0.1\n"
      << "minSessionTimeout=1000\nmaxSessionTimeout=60000\n"
      << "admin.enableServer=false\n"
      << "4lw.commands.whitelist=ruok\n";
}

ZkServer::~ZkServer() {
  Stop();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

bool ZkServer::Start() {
  if (pid_ > 0) return true;
  const std::string cfg = dir_ + "/zoo.cfg";
  const std::string log = dir_ + "/zookeeper.log";
  pid_ = ::fork();
  if (pid_ == 0) {
    const int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (out >= 0) {
      ::dup2(out, 1);
      ::dup2(out, 2);
    }
    CloseInheritedFds();
    const std::string logdir = "-Dzookeeper.log.dir=" + dir_;
    ::execlp("java", "java", "-Xmx256m", logdir.c_str(), "-cp", "/etc/zookeeper/conf:/usr/share/java/zookeeper.jar",
             "org.apache.zookeeper.server.quorum.QuorumPeerMain", cfg.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  for (int i = 0; i < 300; ++i) {
    if (Ready()) return true;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

void ZkServer::Stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

bool ZkServer::Ready() const {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port_);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = false;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 && ::send(fd, "ruok", 4, MSG_NOSIGNAL) == 4) {
    char buf[8] = {};
    timeval tv{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ok = ::recv(fd, buf, 4, MSG_WAITALL) == 4 && std::memcmp(buf, "imok", 4) == 0;
  }
  ::close(fd);
  return ok;
}

namespace {
struct Waiter {
  std::mutex mu;
  std::condition_variable cv;
  bool connected = false;
};
void WaitWatcher(zhandle_t*, int type, int state, const char*, void* ctx) {
  if (type != ZOO_SESSION_EVENT || state != ZOO_CONNECTED_STATE) return;
  auto* w = static_cast<Waiter*>(ctx);
  std::lock_guard lock(w->mu);
  w->connected = true;
  w->cv.notify_all();
}
}  // namespace

bool ZkServer::ExpireSession(const std::string& hosts, int64_t session_id, const std::string& password) {
  clientid_t id{};
  id.client_id = session_id;
  std::memcpy(id.passwd, password.data(), std::min(password.size(), sizeof id.passwd));
  Waiter w;
  zhandle_t* zh = zookeeper_init(hosts.c_str(), &WaitWatcher, 10000, &id, &w, 0);
  if (!zh) return false;
  bool ok = false;
  {
    std::unique_lock lock(w.mu);
    ok = w.cv.wait_for(lock, std::chrono::seconds(10), [&] { return w.connected; });
  }
  zookeeper_close(zh);  // closing the shared session expires it for the other handle too
  return ok;
}

}  // namespace krpc::testing
