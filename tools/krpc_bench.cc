// krpc-bench: closed-loop benchmark of EchoService.Echo. C calls stay in flight over N
// connections; after a warm-up, it measures for a fixed time and prints one JSON line:
//   {"system":"krpc","qps":...,"p50_us":...,"p99_us":...,"p999_us":...,"errors":...,...}
// (with "first_error" naming the first failed call's status when calls failed)
// Flags match the peer harness (../shared/peers): --host --port (or --target), --concurrency,
// --connections, --payload, --duration, --warmup, --threads, --server_pid, --tag, --system.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#include "examples/echo.krpc.h"
#include "examples/echo.pb.h"
#include "krpc/channel.h"
#include "krpc/client_runtime.h"
#include "krpc/client_admin.h"
#include "krpc/config.h"
#include "krpc/json.h"
#include "krpc/client_metrics.h"
#include "latency_histogram.h"

namespace {
using Clock = std::chrono::steady_clock;

struct BenchOptions {
  std::string system = "krpc";
  std::string target;
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  int concurrency = 1;
  int connections = 1;
  int payload = 64;
  double duration = 10;
  double warmup = 2;
  int threads = 0;
  int server_pid = 0;
  std::string tag;
  std::string api = "generic";
  bool metrics = true;
  bool connect_in_order = true;
  uint16_t admin_port = 0;

  // Every channel key (rpc_timeout_ms, load_balancer, protocol, tls*, retries, hedging,
  // breakers, outlier detection, ...): a zk:// target runs the whole resilience stack. The
  // connection pool stays off: --connections means TCP connections, one channel each.
  krpc::ChannelOptions channel = [] {
    krpc::ChannelOptions c;
    c.timeout_ms = 5000;
    return c;
  }();
  void Register(krpc::OptionSet& o) {
    channel.Register(o);
    o.AddBool("metrics", &metrics, "record client SDK metrics (to measure their cost)");
    o.AddBool("connect_in_order", &connect_in_order,
              "connect the channels one after another (one call each) before the load, as the raw TCP peer does");
    o.AddPort("admin_port", &admin_port, "serve /metrics and /status on this port (0 = no admin port)");
    o.AddString("system", &system, "label copied into the JSON");
    o.AddString("target", &target, "channel target (overrides --host/--port)");
    o.AddString("host", &host, "server host");
    o.AddPort("port", &port, "server port");
    o.AddInt("concurrency", &concurrency, 1, 100000, "calls in flight");
    o.AddInt("connections", &connections, 1, 10000, "TCP connections (channels)");
    o.AddInt("payload", &payload, 0, 64 << 20, "request payload bytes (echoed back)");
    o.AddDouble("duration", &duration, 0.1, 3600, "measured seconds");
    o.AddDouble("warmup", &warmup, 0, 3600, "unmeasured seconds before measuring");
    o.AddInt("threads", &threads, 0, 256, "client I/O threads (0 = 1 per connection, at most 2)");
    o.AddInt("server_pid", &server_pid, 0, 1 << 30, "sample this process's CPU during the measurement");
    o.AddString("tag", &tag, "free-form label copied into the JSON");
    o.AddString("api", &api, "generic (protobuf stub with a done closure) or coroutine (co_await a typed stub)");
  }
};

enum Phase : int { kWarmup, kMeasure, kStop };

double ProcCpuSeconds(int pid) {
  std::ifstream f(pid > 0 ? "/proc/" + std::to_string(pid) + "/stat" : "/proc/self/stat");
  std::string line;
  if (!std::getline(f, line)) return -1;
  std::istringstream is(line.substr(line.rfind(')') + 2));
  std::string tok;
  long long utime = 0, stime = 0;
  for (int field = 3; field <= 15 && (is >> tok); ++field) {
    if (field == 14) utime = std::atoll(tok.c_str());
    if (field == 15) stime = std::atoll(tok.c_str());
  }
  return double(utime + stime) / double(sysconf(_SC_CLK_TCK));
}

struct Shared {
  std::atomic<int> phase{kWarmup};
  std::atomic<int> outstanding{0};
  std::atomic<uint64_t> errors{0};
  std::atomic<uint64_t> measured{0};
  krpc::tools::LatencyHistogram hist;
  std::atomic<int> error_reports{0};
  std::mutex first_error_mu;
  std::string first_error;  // in the JSON line, so a run's record says why calls failed

  // A measured call failed: counted, the first five told on stderr, the first one kept.
  void OnFailure(const std::string& why) {
    errors.fetch_add(1, std::memory_order_relaxed);
    if (error_reports.fetch_add(1) >= 5) return;
    std::fprintf(stderr, "call failed: %s\n", why.c_str());
    std::lock_guard lock(first_error_mu);
    if (first_error.empty()) first_error = why;
  }
};

// One closed-loop caller: issues the next call from the previous call's completion.
class Worker final : public google::protobuf::Closure {
 public:
  // Calls take the channel's deadline (rpc_timeout_ms).
  Worker(Shared& shared, krpc::examples::EchoService_Stub* stub, const std::string& payload)
      : shared_(shared), stub_(stub) {
    request_.set_payload(payload);
  }

  void Issue() {
    start_ = Clock::now();
    stub_->Echo(&cntl_, &request_, &response_, this);
  }

  void Run() override {
    const int phase = shared_.phase.load(std::memory_order_acquire);
    if (phase == kMeasure) {
      if (cntl_.Failed()) {
        shared_.OnFailure(cntl_.ErrorText());
      } else {
        shared_.hist.Record(static_cast<uint64_t>(
            std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start_).count()));
        shared_.measured.fetch_add(1, std::memory_order_relaxed);
      }
    }
    if (phase == kStop) {
      shared_.outstanding.fetch_sub(1, std::memory_order_acq_rel);
      return;
    }
    if (cntl_.Failed() && cntl_.code() == krpc::StatusCode::kUnavailable) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));  // do not spin on a dead server
    }
    response_.Clear();
    Issue();
  }

 private:
  Shared& shared_;
  krpc::examples::EchoService_Stub* stub_;
  krpc::Controller cntl_;
  krpc::examples::EchoRequest request_;
  krpc::examples::EchoResponse response_;
  Clock::time_point start_;
};

// The same closed loop with the coroutine API: co_await the typed stub of protoc-gen-krpc.
krpc::Task<void> CoroutineWorker(Shared& shared, krpc::examples::EchoServiceClient& client, std::string payload) {
  krpc::examples::EchoRequest request;
  request.set_payload(std::move(payload));
  krpc::Controller ctx;
  while (shared.phase.load(std::memory_order_acquire) != kStop) {
    const auto start = Clock::now();
    auto reply = co_await client.Echo(ctx, request);
    if (shared.phase.load(std::memory_order_acquire) == kMeasure) {
      if (!reply.ok()) {
        shared.OnFailure(reply.status().ToString());
      } else {
        shared.hist.Record(static_cast<uint64_t>(
            std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start).count()));
        shared.measured.fetch_add(1, std::memory_order_relaxed);
      }
    }
    if (!reply.ok() && reply.status().code() == krpc::StatusCode::kUnavailable) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));  // do not spin on a dead server
    }
  }
  shared.outstanding.fetch_sub(1, std::memory_order_acq_rel);
}

void SleepSeconds(double s) { std::this_thread::sleep_for(std::chrono::duration<double>(s)); }

}  // namespace

int main(int argc, char** argv) {
  BenchOptions o;
  krpc::OptionSet flags;
  o.Register(flags);
  if (krpc::OptionSet::WantsHelp(argc, argv)) {
    std::printf("usage: krpc-bench [--key=value ...]  (the peer benchmark: Echo calls, one JSON line of results;\n"
                "       `krpc bench` load-tests any method)\n\n%s", flags.Help().c_str());
    return 0;
  }
  if (auto s = flags.Load(argc, argv, {}); !s.ok()) {
    std::fprintf(stderr, "krpc-bench: %s\nflags:\n%s", s.message().c_str(), flags.Help().c_str());
    return 2;
  }
  if (o.api != "generic" && o.api != "coroutine") {
    std::fprintf(stderr, "krpc-bench: bad value for 'api': '%s' (generic or coroutine)\n", o.api.c_str());
    return 2;
  }
  if (o.target.empty()) {
    if (o.port == 0) {
      std::fprintf(stderr, "krpc-bench: give --target or --port\n");
      return 2;
    }
    o.target = o.host + ":" + std::to_string(o.port);
  }
  o.connections = std::min(o.connections, o.concurrency);
  const int threads = o.threads > 0 ? o.threads : std::min(o.connections, 2);
  auto runtime = krpc::ClientRuntime::Create(threads);
  krpc::Metrics metrics;
  if (o.metrics) runtime->SetObserver(std::make_shared<krpc::ClientMetrics>(metrics, runtime));
  std::unique_ptr<krpc::AdminServer> admin;
  if (o.admin_port) {
    krpc::AdminOptions ao;
    ao.port = o.admin_port;
    admin = krpc::MakeClientAdmin(ao, metrics, runtime, "krpc-bench " + o.target);
    if (auto s = admin->Start(); !s.ok()) {
      std::fprintf(stderr, "krpc-bench: %s\n", s.message().c_str());
      return 2;
    }
  }
  krpc::ChannelOptions copts = o.channel;
  copts.pool.enabled = false;  // --connections means TCP connections: one per channel
  std::vector<std::shared_ptr<krpc::Channel>> channels;
  std::vector<std::unique_ptr<krpc::examples::EchoService_Stub>> stubs;
  for (int i = 0; i < o.connections; ++i) {
    auto ch = krpc::Channel::Create(o.target, copts, runtime);
    if (!ch.ok()) {
      std::fprintf(stderr, "krpc-bench: %s\n", ch.status().ToString().c_str());
      return 2;
    }
    channels.push_back(ch.value());
    stubs.push_back(std::make_unique<krpc::examples::EchoService_Stub>(channels.back().get()));
    if (o.connect_in_order) {
      // One blocking call connects this channel before the next one starts. Connected in
      // order, connection i meets client thread i % T and node thread i % T (both hand out
      // round-robin), as the raw TCP peer's connections do; connected lazily by the load,
      // the node accepts them in whatever order they arrive.
      krpc::Controller cntl;
      krpc::examples::EchoRequest req;
      krpc::examples::EchoResponse resp;
      stubs.back()->Echo(&cntl, &req, &resp, nullptr);
      if (cntl.Failed()) {
        std::fprintf(stderr, "krpc-bench: first call on connection %d failed: %s\n", i, cntl.ErrorText().c_str());
        return 2;
      }
    }
  }
  Shared shared;
  const std::string payload(static_cast<size_t>(o.payload), 'x');
  std::vector<std::unique_ptr<Worker>> workers;
  std::vector<std::unique_ptr<krpc::examples::EchoServiceClient>> clients;
  shared.outstanding.store(o.concurrency);
  if (o.api == "coroutine") {
    for (auto& ch : channels) clients.push_back(std::make_unique<krpc::examples::EchoServiceClient>(ch));
    for (int i = 0; i < o.concurrency; ++i) {
      krpc::Spawn(CoroutineWorker(shared, *clients[i % o.connections], payload), [](std::exception_ptr) {});
    }
  } else {
    for (int i = 0; i < o.concurrency; ++i) {
      workers.push_back(std::make_unique<Worker>(shared, stubs[i % o.connections].get(), payload));
    }
    for (auto& w : workers) w->Issue();
  }

  SleepSeconds(o.warmup);
  const double c0 = ProcCpuSeconds(0);
  const double s0 = o.server_pid > 0 ? ProcCpuSeconds(o.server_pid) : 0;
  const auto t0 = Clock::now();
  shared.phase.store(kMeasure, std::memory_order_release);
  SleepSeconds(o.duration);
  shared.phase.store(kStop, std::memory_order_release);
  const auto t1 = Clock::now();
  const double c1 = ProcCpuSeconds(0);
  const double s1 = o.server_pid > 0 ? ProcCpuSeconds(o.server_pid) : 0;
  // Bounded wait for the calls still in flight (each ends within its deadline).
  const auto give_up = Clock::now() + std::chrono::milliseconds(copts.timeout_ms) + std::chrono::seconds(2);
  while (shared.outstanding.load() > 0 && Clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const double secs = std::chrono::duration<double>(t1 - t0).count();
  const double qps = static_cast<double>(shared.measured.load()) / secs;
  std::string first_error;
  {
    std::lock_guard lock(shared.first_error_mu);
    if (!shared.first_error.empty()) first_error = "\"first_error\":" + krpc::json::Quote(shared.first_error) + ",";
  }
  std::printf(
      "{\"system\":\"%s\",\"api\":\"%s\",\"tag\":\"%s\",\"payload\":%d,\"concurrency\":%d,\"connections\":%d,\"threads\":%d,"
      "\"duration_s\":%.3f,\"calls\":%llu,\"qps\":%.1f,\"p50_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,"
      "\"errors\":%llu,%s\"metrics\":%s,\"client_cpu_pct\":%.1f%s}\n",
      o.system.c_str(), o.api.c_str(), o.tag.c_str(), o.payload, o.concurrency, o.connections, threads, secs,
      static_cast<unsigned long long>(shared.measured.load()), qps, shared.hist.Percentile(0.50),
      shared.hist.Percentile(0.99), shared.hist.Percentile(0.999),
      static_cast<unsigned long long>(shared.errors.load()), first_error.c_str(), o.metrics ? "true" : "false",
      100.0 * (c1 - c0) / secs,
      o.server_pid > 0 ? (",\"server_cpu_pct\":" + std::to_string(100.0 * (s1 - s0) / secs)).c_str() : "");
  std::fflush(stdout);
  for (auto& ch : channels) ch->Shutdown();
  return shared.outstanding.load() > 0 ? 1 : 0;
}
