// ZkOptions: the registry keys, and their check at start-up.
#include <netdb.h>
#include <sys/socket.h>

#include <chrono>
#include <thread>

#include "krpc/config.h"
#include "krpc/endpoint.h"
#include "krpc/log.h"
#include "krpc/zk_client.h"

namespace krpc {

void ZkOptions::Register(OptionSet& o) {
  o.AddString("zk_hosts", &hosts, "ZooKeeper ensemble, host:port[,host:port] (empty = no registry)");
  o.AddInt("zk_session_timeout_ms", &session_timeout_ms, 1000, 600000, "ZooKeeper session timeout");
  o.AddString("zk_digest", &digest, "user:password; registry writes use it and are ACL-protected");
}

Status ZkOptions::Validate() const {
  if (hosts.empty()) return Status::Ok();
  auto list = ParseEndpointList(hosts);
  if (!list.ok()) return Status(StatusCode::kInvalidArgument, "bad value for 'zk_hosts': " + list.status().message());
  // Every name must be host:port; at least one must resolve. A server whose name does not
  // resolve now (a replaced or stopped member) is left out until it does: one lost server must
  // not keep a node from starting. A name that never resolves is a typo the warning names.
  std::string failed;
  size_t resolved = 0;
  for (const auto& ep : list.value()) {
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    int rc = EAI_AGAIN;
    // A temporary DNS failure (a container network still coming up) gets a few more tries;
    // a name that does not exist fails at once.
    for (int attempt = 0; attempt < 10 && rc == EAI_AGAIN; ++attempt) {
      if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(300));
      rc = ::getaddrinfo(ep.host.c_str(), nullptr, &hints, &found);
    }
    if (rc != 0) {
      failed += (failed.empty() ? "" : ", ") + ("'" + ep.host + "': " + ::gai_strerror(rc));
      continue;
    }
    ::freeaddrinfo(found);
    ++resolved;
  }
  if (failed.empty()) return Status::Ok();
  if (resolved == 0) {
    return Status(StatusCode::kInvalidArgument, "bad value for 'zk_hosts': cannot resolve " + failed);
  }
  log::Get("config")->warn("zk_hosts: cannot resolve {} now; using the other servers until it does", failed);
  return Status::Ok();
}

}  // namespace krpc
