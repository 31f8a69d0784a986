// In-process servers for the client's integration tests (real sockets, real servers), whose
// behaviour is switched at run time by a FaultInjector, and a helper that runs Echo calls
// through a channel and tallies where and how they ended.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "echo_service.h"
#include "krpc/channel.h"
#include "krpc/fault_injector.h"
#include "krpc/registry_publisher.h"
#include "krpc/server.h"

namespace krpc::testing {

// Counts the Echo calls that reach a server, then applies the injected faults.
class CountingInjector final : public FaultInjector {
 public:
  Interception Intercept(std::string_view service, std::string_view method) override {
    if (service == "krpc.examples.EchoService") calls.fetch_add(1);
    return FaultInjector::Intercept(service, method);
  }
  std::atomic<int> calls{0};
};

struct TestNode {
  std::unique_ptr<Server> server;
  examples::EchoServiceImpl echo;
  std::shared_ptr<CountingInjector> faults = std::make_shared<CountingInjector>();
  uint16_t port = 0;
  std::unique_ptr<RegistryPublisher> publisher;

  // Serves `extra` too (not owned) beside Echo.
  void Start(std::vector<google::protobuf::Service*> extra = {}, google::protobuf::Service* echo_service = nullptr) {
    ServerOptions o;
    o.listen_host = "127.0.0.1";
    o.io_threads = 1;
    server = std::make_unique<Server>(o);
    ASSERT_TRUE(server->AddService(echo_service ? echo_service : &echo).ok());
    for (auto* s : extra) ASSERT_TRUE(server->AddService(s).ok());
    server->SetInterceptor(faults);
    ASSERT_TRUE(server->Start().ok());
    port = server->port();
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port); }
};

struct CallTally {
  int ok = 0, failed = 0;
  int hedged = 0, hedge_won = 0, attempts = 0;
  std::map<std::string, int> by;  // successes by endpoint
  std::map<StatusCode, int> codes;
};

// `n` Echo calls, `parallel` at a time (blocking calls on `parallel` threads).
inline CallTally RunEcho(Channel* ch, int n, int parallel = 1, bool idempotent = false,
                         std::chrono::milliseconds timeout = std::chrono::milliseconds(1000)) {
  CallTally r;
  std::mutex mu;
  std::atomic<int> next{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < parallel; ++t) {
    threads.emplace_back([&] {
      examples::EchoService_Stub stub(ch);
      while (next.fetch_add(1) < n) {
        Controller cntl;
        cntl.set_timeout(timeout);
        cntl.set_idempotent(idempotent);
        examples::EchoRequest req;
        req.set_payload("p");
        examples::EchoResponse resp;
        stub.Echo(&cntl, &req, &resp, nullptr);
        std::lock_guard lock(mu);
        r.attempts += cntl.attempts();
        r.hedged += cntl.hedges() > 0;
        r.hedge_won += cntl.hedge_won();
        if (cntl.Failed()) {
          ++r.failed;
          ++r.codes[cntl.code()];
        } else {
          ++r.ok;
          ++r.by[cntl.remote()];
          if (resp.payload() != "p") ++r.codes[StatusCode::kDataLoss];  // a wrong answer counts
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  return r;
}

inline std::string BreakerOf(Channel* ch, const std::string& address) {
  for (const auto& e : ch->Endpoints()) {
    if (e.address == address) return std::string(ToString(e.breaker));
  }
  return "missing";
}

}  // namespace krpc::testing
