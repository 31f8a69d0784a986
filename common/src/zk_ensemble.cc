#include "krpc/impl/zk_ensemble.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <set>

#include "krpc/endpoint.h"

namespace krpc {

ResolvedEnsemble ResolveEnsemble(std::string_view hosts) {
  ResolvedEnsemble out;
  auto list = ParseEndpointList(hosts);
  if (!list.ok()) {
    out.unresolved.push_back(std::string(hosts) + " (" + list.status().message() + ")");
    return out;
  }
  std::set<std::string> addresses;
  for (const auto& ep : list.value()) {
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    if (const int rc = ::getaddrinfo(ep.host.c_str(), nullptr, &hints, &found); rc != 0) {
      out.unresolved.push_back(ep.ToString() + " (" + ::gai_strerror(rc) + ")");
      continue;
    }
    std::vector<std::string> v4, v6;
    for (const addrinfo* a = found; a; a = a->ai_next) {
      char text[INET6_ADDRSTRLEN] = {};
      if (a->ai_family == AF_INET) {
        ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(a->ai_addr)->sin_addr, text, sizeof text);
        v4.push_back(std::string(text) + ":" + std::to_string(ep.port));
      } else if (a->ai_family == AF_INET6) {
        ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(a->ai_addr)->sin6_addr, text, sizeof text);
        v6.push_back("[" + std::string(text) + "]:" + std::to_string(ep.port));
      }
    }
    ::freeaddrinfo(found);
    for (auto& a : v4.empty() ? v6 : v4) addresses.insert(std::move(a));
  }
  for (const auto& a : addresses) {
    if (!out.hosts.empty()) out.hosts += ',';
    out.hosts += a;
  }
  return out;
}

}  // namespace krpc
