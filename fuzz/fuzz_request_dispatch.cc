// libFuzzer target: request-header parsing and dispatch on a real server. One in-process
// krpc Server (Echo and User services, fault-free) listens on loopback; each input is written
// to a fresh TCP connection as raw bytes, then the write side is shut and the response read
// until the server closes. This drives the real connections: the protocol choice by the first
// byte, then for krpc frame decoding, header parsing, method lookup, metadata, body parsing,
// the handlers, error replies and closing, streams (open, MESSAGE, CREDIT, half-close, the
// interop TestService's handlers); for inputs that start with the HTTP/2 preface (seeds
// grpc_*), the gRPC connection over nghttp2 (headers, bodies, limits, trailers, GOAWAY).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <sys/time.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <memory>

#include "echo_service.h"
#include "interop_service.h"
#include "krpc/server.h"
#include "user_service.h"

namespace {

struct Fixture {
  krpc::examples::EchoServiceImpl echo;
  krpc::examples::UserServiceImpl user;
  krpc::examples::InteropServiceImpl interop;  // every kind of stream, on both wires
  std::unique_ptr<krpc::Server> server;
  Fixture() {
    krpc::ServerOptions o;
    o.listen_host = "127.0.0.1";
    o.io_threads = 1;
    o.max_body_bytes = 64 * 1024;
    server = std::make_unique<krpc::Server>(o);
    if (!server->AddService(&echo).ok() || !server->AddService(&user).ok() || !server->AddService(&interop).ok() ||
        !server->Start().ok()) {
      std::abort();
    }
  }
};

int Connect(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  if (rc != 0 && errno == EINTR) {
    // libFuzzer's timeout alarm (SIGALRM) interrupted it; the connect goes on: wait for it.
    pollfd p{fd, POLLOUT, 0};
    while (::poll(&p, 1, 5000) < 0 && errno == EINTR) {
    }
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    errno = err;
    rc = err == 0 ? 0 : -1;
  }
  if (rc != 0) {
    // The server no longer accepting is a finding; say what failed instead of a bare abort.
    std::fprintf(stderr, "connect to the fixture server failed: %s\n", std::strerror(errno));
    std::abort();
  }
  return fd;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Built on first use and kept for the whole run (libFuzzer runs inputs in one process).
  static Fixture* fixture = new Fixture();
  const int fd = Connect(fixture->server->port());
  for (size_t at = 0; at < size;) {
    const ssize_t n = ::send(fd, data + at, size - at, MSG_NOSIGNAL);
    if (n <= 0) break;  // the server closed early (protocol error): fine
    at += static_cast<size_t>(n);
  }
  ::shutdown(fd, SHUT_WR);
  char buf[16384];
  while (::recv(fd, buf, sizeof buf, 0) > 0) {
  }
  ::close(fd);
  return 0;
}
