// Test helpers: an EchoService whose behaviour is steered by request metadata, a delayed
// executor for completing calls from another thread, and a raw TCP client for bad input.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "examples/echo.pb.h"
#include "krpc/codec/frame.h"
#include "krpc/wire.pb.h"

namespace krpc::testing {

// Runs functions after a delay on its own thread.
class Delayer {
 public:
  Delayer();
  ~Delayer();
  void After(std::chrono::milliseconds delay, std::function<void()> fn);

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::multimap<std::chrono::steady_clock::time_point, std::function<void()>> queue_;
  bool stop_ = false;
  std::thread thread_;
};

// Echo with knobs, read from request metadata:
//   delay-ms: N          complete after N ms, from another thread
//   fail-code: NAME      fail with that status code
//   report: deadline     reply with the remaining deadline in microseconds
//   report: metadata     reply with the value of metadata key "x-value"
//   report: identity     reply "<first SAN>|<subject>" of the caller's certificate, or "unauthenticated"
//   report: canceled     wait for cancellation (up to delay-ms) and reply "canceled"/"not canceled"
class ScriptedEcho final : public examples::EchoService {
 public:
  void Echo(google::protobuf::RpcController* controller, const examples::EchoRequest* request,
            examples::EchoResponse* response, google::protobuf::Closure* done) override;
  std::atomic<int> calls{0};
  std::atomic<int> canceled{0};

 private:
  Delayer delayer_;
};

// Echo whose handlers wait until Open(), then answer (run them on a worker pool). With
// `held_payload`, only requests carrying that payload wait; the others answer at once.
class GatedEcho final : public examples::EchoService {
 public:
  explicit GatedEcho(std::string held_payload = "") : held_payload_(std::move(held_payload)) {}
  void Echo(google::protobuf::RpcController*, const examples::EchoRequest* req, examples::EchoResponse* resp,
            google::protobuf::Closure* done) override {
    {
      std::lock_guard lock(mu_);
      seen_.push_back(req->payload());
    }
    if (held_payload_.empty() || req->payload() == held_payload_) {
      std::unique_lock lock(mu_);
      ++running_;
      cv_.notify_all();
      cv_.wait(lock, [&] { return open_; });
    }
    resp->set_payload(req->payload());
    done->Run();  // nothing of this object may be touched after: the test may end at once
  }
  void WaitRunning(int n) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return running_ >= n; });
  }
  void Open() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  // The payloads of the calls it received, in the order their handlers ran.
  std::vector<std::string> seen() {
    std::lock_guard lock(mu_);
    return seen_;
  }

 private:
  const std::string held_payload_;
  std::vector<std::string> seen_;
  std::mutex mu_;
  std::condition_variable cv_;
  int running_ = 0;
  bool open_ = false;
};

// A listening TCP socket on 127.0.0.1 with the given backlog; its port in *port (-1 on error).
int ListenLoopback(int backlog, uint16_t* port);

// A blocking TCP client for sending arbitrary bytes.
class RawClient {
 public:
  explicit RawClient(uint16_t port);
  ~RawClient();
  bool connected() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  bool Send(const std::string& bytes);
  // Reads what arrives within `timeout`; sets *closed when the server closed the connection.
  std::string Read(std::chrono::milliseconds timeout, bool* closed);

 private:
  int fd_ = -1;
};

// Raw krpc frames, for tests that speak the protocol byte by byte.
std::string RawRequest(uint64_t id, const std::string& method, const std::string& body, uint64_t timeout_us,
                       std::map<std::string, std::string> md = {});
std::string RawPing(codec::FrameType type, uint64_t nonce);  // a PING or a PONG
std::string EchoBody(const std::string& payload);

struct RawFrame {
  codec::FrameType type = codec::FrameType::kRequest;
  std::string header;
  std::string body;
};
// Moves the first whole frame out of *pending into *frame: kFrame, kNeedMore (nothing moved)
// or kError (bytes that are not a frame).
codec::DecodeStatus TakeFrame(std::string* pending, RawFrame* frame);
// The next frame from `c` (bytes beyond it stay in *pending), waiting up to a minute; false
// when the connection closed (or nothing came) first.
bool ReadFrame(RawClient& c, std::string* pending, RawFrame* frame, bool* closed);
// Reads until one RESPONSE frame arrived (or the connection closed).
bool ReadResponse(RawClient& c, wire::ResponseHeader* h, bool* closed);

}  // namespace krpc::testing
