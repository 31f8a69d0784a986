#include "test_services.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "krpc/server_controller.h"

namespace krpc::testing {

Delayer::Delayer() {
  thread_ = std::thread([this] {
    std::unique_lock lock(mu_);
    while (!stop_) {
      if (queue_.empty()) {
        cv_.wait(lock);
        continue;
      }
      const auto when = queue_.begin()->first;
      if (when > std::chrono::steady_clock::now()) {
        cv_.wait_until(lock, when);
        continue;
      }
      auto fn = std::move(queue_.begin()->second);
      queue_.erase(queue_.begin());
      lock.unlock();
      fn();
      lock.lock();
    }
  });
}

Delayer::~Delayer() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
  for (auto& [t, fn] : queue_) fn();  // finish what is left so no call leaks
}

void Delayer::After(std::chrono::milliseconds delay, std::function<void()> fn) {
  {
    std::lock_guard lock(mu_);
    queue_.emplace(std::chrono::steady_clock::now() + delay, std::move(fn));
  }
  cv_.notify_all();
}

void ScriptedEcho::Echo(google::protobuf::RpcController* controller, const examples::EchoRequest* request,
                        examples::EchoResponse* response, google::protobuf::Closure* done) {
  calls.fetch_add(1);
  auto* cntl = ServerController::From(controller);
  const std::string report(cntl->metadata("report"));
  const std::string fail(cntl->metadata("fail-code"));
  const int delay = cntl->metadata("delay-ms").empty() ? 0 : std::stoi(std::string(cntl->metadata("delay-ms")));
  if (!fail.empty()) {
    StatusCode code;
    if (!ParseStatusCode(fail, &code)) code = StatusCode::kInternal;
    cntl->SetStatus(code, "scripted failure");
  } else if (report == "deadline") {
    response->set_payload(std::to_string(cntl->remaining().count()));
  } else if (report == "metadata") {
    response->set_payload(std::string(cntl->metadata("x-value")));
  } else if (report == "identity") {
    const auto& id = cntl->peer_identity();
    response->set_payload(id.authenticated ? std::string(id.primary()) + "|" + id.subject : "unauthenticated");
  } else {
    response->set_payload(request->payload());
  }
  if (report == "canceled") {
    auto* self = this;
    delayer_.After(std::chrono::milliseconds(delay), [cntl, response, done, self] {
      const bool c = cntl->IsCanceled();
      if (c) self->canceled.fetch_add(1);
      response->set_payload(c ? "canceled" : "not canceled");
      done->Run();
    });
    return;
  }
  if (delay > 0) {
    delayer_.After(std::chrono::milliseconds(delay), [done] { done->Run(); });
    return;
  }
  done->Run();
}

int ListenLoopback(int backlog, uint16_t* port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, backlog) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    return -1;
  }
  *port = ntohs(addr.sin_port);
  return fd;
}

RawClient::RawClient(uint16_t port) {
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

RawClient::~RawClient() {
  if (fd_ >= 0) ::close(fd_);
}

bool RawClient::Send(const std::string& bytes) {
  size_t off = 0;
  while (off < bytes.size()) {
    const ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

std::string RawClient::Read(std::chrono::milliseconds timeout, bool* closed) {
  std::string out;
  *closed = false;
  const auto until = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
    if (left.count() <= 0) return out;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return out;
    char buf[65536];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) {
      *closed = true;
      return out;
    }
    out.append(buf, static_cast<size_t>(n));
  }
}

std::string RawRequest(uint64_t id, const std::string& method, const std::string& body, uint64_t timeout_us,
                       std::map<std::string, std::string> md) {
  wire::RequestHeader h;
  h.set_call_id(id);
  h.set_method(method);
  h.set_timeout_us(timeout_us);
  for (auto& [k, v] : md) (*h.mutable_metadata())[k] = v;
  std::vector<char> out;
  codec::AppendRawFrame(out, codec::FrameType::kRequest, h.SerializeAsString(), body);
  return std::string(out.begin(), out.end());
}

std::string RawPing(codec::FrameType type, uint64_t nonce) {
  wire::PingHeader ping;
  ping.set_nonce(nonce);
  std::vector<char> out;
  codec::AppendRawFrame(out, type, ping.SerializeAsString(), "");
  return std::string(out.begin(), out.end());
}

std::string EchoBody(const std::string& payload) {
  examples::EchoRequest r;
  r.set_payload(payload);
  return r.SerializeAsString();
}

codec::DecodeStatus TakeFrame(std::string* pending, RawFrame* frame) {
  auto r = codec::DecodeFrame(*pending, {});
  if (r.status == codec::DecodeStatus::kFrame) {
    frame->type = r.frame.prefix.type;
    frame->header.assign(r.frame.header.data(), r.frame.header.size());
    frame->body.assign(r.frame.body.data(), r.frame.body.size());
    pending->erase(0, r.consumed);
  }
  return r.status;
}

bool ReadFrame(RawClient& c, std::string* pending, RawFrame* frame, bool* closed) {
  *closed = false;
  for (int i = 0; i < 600; ++i) {
    const auto status = TakeFrame(pending, frame);
    if (status == codec::DecodeStatus::kFrame) return true;
    if (status == codec::DecodeStatus::kError || *closed) return false;
    *pending += c.Read(std::chrono::milliseconds(100), closed);
  }
  return false;
}

bool ReadResponse(RawClient& c, wire::ResponseHeader* h, bool* closed) {
  std::string pending;
  RawFrame f;
  return ReadFrame(c, &pending, &f, closed) && f.type == codec::FrameType::kResponse &&
         h->ParseFromString(f.header);
}

}  // namespace krpc::testing
