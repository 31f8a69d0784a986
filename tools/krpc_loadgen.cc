// krpc-loadgen: a steady, open-loop mix of calls through a channel (normally zk://
// discovery): reads that are safe to repeat (EchoService.Echo, UserService.Login, marked
// idempotent) and writes that are not (UserService.Register), counted per kind. Its own
// admin port serves /metrics (client SDK metrics), /status (endpoints, breakers, pools) and
// /stats (its per-call accounting, for the e2e suite; POST /stats/reset zeroes it). Bounded:
// stops after --duration seconds (0 = until SIGTERM).
#include <algorithm>
#include <csignal>
#include <cstdio>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "examples/echo.pb.h"
#include "examples/user.pb.h"
#include "krpc/channel.h"
#include "krpc/client_admin.h"
#include "krpc/client_runtime.h"
#include "krpc/config.h"
#include "krpc/json.h"
#include "krpc/log.h"
#include "krpc/client_metrics.h"
#include "latency_histogram.h"

namespace {
using Clock = std::chrono::steady_clock;

struct LoadgenOptions {
  std::string target = "zk://127.0.0.1:2181/krpc";
  double rate = 200;            // calls per second, all kinds together
  int max_outstanding = 256;    // calls in flight at most (beyond: the tick is skipped and counted)
  int echo_percent = 70;        // EchoService.Echo (idempotent)
  int write_percent = 10;       // UserService.Register (not idempotent); the rest: Login (idempotent)
  int payload = 64;
  double duration = 0;          // seconds; 0 = until SIGTERM
  bool idempotent = true;       // mark Echo and Login idempotent (they are reads: safe to retry and hedge)
  krpc::ChannelOptions channel;
  krpc::AdminOptions admin;
  krpc::log::LogOptions log;
  int io_threads = 1;
  void Register(krpc::OptionSet& o) {
    o.AddString("target", &target, "channel target");
    o.AddDouble("rate", &rate, 0.1, 1e6, "calls per second");
    o.AddInt("max_outstanding", &max_outstanding, 1, 100000, "calls in flight at most");
    o.AddInt("echo_percent", &echo_percent, 0, 100, "share of Echo calls (idempotent)");
    o.AddInt("write_percent", &write_percent, 0, 100, "share of Register calls (not idempotent); the rest: Login");
    o.AddInt("payload", &payload, 0, 1 << 20, "Echo payload bytes");
    o.AddDouble("duration", &duration, 0, 86400 * 7, "seconds to run (0 = until SIGTERM)");
    o.AddBool("idempotent", &idempotent, "mark the reads idempotent (retry and hedge after they may have run)");
    o.AddInt("io_threads", &io_threads, 1, 64, "client I/O threads");
    channel.Register(o);
    admin.Register(o);
    log.Register(o);
  }
};

// The loadgen's own accounting of every call it made, per kind (idempotent or not).
class Stats {
 public:
  void Record(const krpc::Controller& c, bool idempotent) {
    std::lock_guard lock(mu_);
    Kind& k = idempotent ? idempotent_ : writes_;
    ++k.calls;
    if (c.Failed()) {
      ++k.failed[std::string(krpc::StatusCodeName(c.code()))];
      if (failure_samples_.size() < 20) failure_samples_.push_back((idempotent ? "idempotent: " : "non-idempotent: ") + c.ErrorText());
    } else {
      ++ok_[c.remote()];
    }
    hist_.Record(static_cast<uint64_t>(c.latency().count()));
    attempts_ += static_cast<uint64_t>(c.attempts());
    hedges_ += static_cast<uint64_t>(c.hedges());
    hedges_won_ += c.hedge_won();
  }
  void Skipped() {
    std::lock_guard lock(mu_);
    ++skipped_;
  }
  void Reset() {
    std::lock_guard lock(mu_);
    idempotent_ = writes_ = Kind{};
    attempts_ = hedges_ = hedges_won_ = skipped_ = 0;
    ok_.clear();
    failure_samples_.clear();
    hist_.Reset();
    since_ = Clock::now();
  }
  std::string Json() {
    std::lock_guard lock(mu_);
    krpc::json::Object ok, failed;
    uint64_t n_ok = 0, n_failed = 0;
    for (auto& [ep, n] : ok_) {
      ok.Add(ep, n);
      n_ok += n;
    }
    std::map<std::string, uint64_t> all;
    for (const Kind* k : {&idempotent_, &writes_}) {
      for (auto& [code, n] : k->failed) all[code] += n;
    }
    for (auto& [code, n] : all) {
      failed.Add(code, n);
      n_failed += n;
    }
    krpc::json::Array samples;
    for (auto& s : failure_samples_) samples.Add(s);
    const uint64_t calls = idempotent_.calls + writes_.calls;
    return krpc::json::Object()
               .Add("seconds", std::chrono::duration<double>(Clock::now() - since_).count())
               .Add("calls", calls)
               .Add("ok", n_ok)
               .Add("failed", n_failed)
               .AddRaw("idempotent", idempotent_.Json())
               .AddRaw("non_idempotent", writes_.Json())
               .Add("attempts", attempts_)
               .Add("retries", attempts_ - calls - hedges_)
               .Add("hedges", hedges_)
               .Add("hedges_won", hedges_won_)
               .Add("skipped", skipped_)
               .AddRaw("ok_by_endpoint", ok.str())
               .AddRaw("failed_by_code", failed.str())
               .Add("p50_us", hist_.Percentile(0.5))
               .Add("p99_us", hist_.Percentile(0.99))
               .AddRaw("failure_samples", samples.str())
               .str() + "\n";
  }

 private:
  struct Kind {
    uint64_t calls = 0;
    std::map<std::string, uint64_t> failed;  // by status code
    std::string Json() const {
      krpc::json::Object codes;
      uint64_t n = 0;
      for (auto& [code, c] : failed) {
        codes.Add(code, c);
        n += c;
      }
      return krpc::json::Object().Add("calls", calls).Add("failed", n).AddRaw("failed_by_code", codes.str()).str();
    }
  };
  std::mutex mu_;
  Kind idempotent_, writes_;
  uint64_t attempts_ = 0, hedges_ = 0, hedges_won_ = 0, skipped_ = 0;
  std::map<std::string, uint64_t> ok_;
  std::vector<std::string> failure_samples_;
  krpc::tools::LatencyHistogram hist_;
  Clock::time_point since_ = Clock::now();
};

// One call in flight; deletes itself when done.
struct Call final : google::protobuf::Closure {
  krpc::Controller cntl;
  krpc::examples::EchoRequest echo_req;
  krpc::examples::EchoResponse echo_resp;
  krpc::examples::LoginRequest login_req;
  krpc::examples::LoginResponse login_resp;
  krpc::examples::RegisterRequest register_req;
  krpc::examples::RegisterResponse register_resp;
  bool idempotent = false;
  Stats* stats;
  std::atomic<int>* outstanding;
  void Run() override {
    stats->Record(cntl, idempotent);
    outstanding->fetch_sub(1);
    delete this;
  }
};

std::atomic<bool> g_stop{false};  // set from the signal handler only
void OnSignal(int) { g_stop = true; }

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGTERM, OnSignal);
  std::signal(SIGINT, OnSignal);
  std::signal(SIGPIPE, SIG_IGN);
  LoadgenOptions o;
  o.admin.port = 9100;
  krpc::OptionSet flags;
  o.Register(flags);
  if (krpc::OptionSet::WantsHelp(argc, argv)) {
    std::printf("usage: krpc-loadgen [-c FILE] [--key=value ...]\n\n%s", flags.Help().c_str());
    return 0;
  }
  if (auto s = flags.Load(argc, argv, krpc::OptionSet::ProcessEnv()); !s.ok()) {
    std::fprintf(stderr, "krpc-loadgen: configuration error: %s\n", s.message().c_str());
    return 2;
  }
  (void)krpc::log::Setup(o.log);
  auto log = krpc::log::Get("loadgen");
  auto runtime = krpc::ClientRuntime::Create(o.io_threads);
  krpc::Metrics metrics;
  runtime->SetObserver(std::make_shared<krpc::ClientMetrics>(metrics, runtime));
  auto channel = krpc::Channel::Create(o.target, o.channel, runtime);
  if (!channel.ok()) {
    std::fprintf(stderr, "krpc-loadgen: %s\n", channel.status().ToString().c_str());
    return 2;
  }
  Stats stats;
  auto admin = krpc::MakeClientAdmin(o.admin, metrics, runtime, "krpc-loadgen");
  admin->Handle("GET", "/stats", [&](const krpc::HttpRequest&) { return krpc::HttpResponse{200, "application/json", stats.Json()}; });
  admin->Handle("POST", "/stats/reset", [&](const krpc::HttpRequest&) {
    stats.Reset();
    return krpc::HttpResponse{200, "text/plain; charset=utf-8", "reset\n"};
  });
  if (auto s = admin->Start(); !s.ok()) {
    log->critical("{}", s.message());
    return 1;
  }
  krpc::examples::EchoService_Stub echo(channel->get());
  krpc::examples::UserService_Stub users(channel->get());
  const int login_percent = std::max(0, 100 - o.echo_percent - o.write_percent);
  log->info("sending {} calls/s to {} ({}% Echo, {}% Login, {}% Register)", o.rate, o.target, o.echo_percent,
            login_percent, o.write_percent);
  std::atomic<int> outstanding{0};
  std::mt19937 rng(std::random_device{}());
  const std::string payload(static_cast<size_t>(o.payload), 'x');
  // Open loop: every millisecond, the calls due by then (rate x elapsed) go out.
  const auto tick = std::chrono::milliseconds(1);
  const auto start = Clock::now();
  auto next = start;
  uint64_t seq = 0, sent = 0;
  while (!g_stop.load() && (o.duration <= 0 || Clock::now() - start < std::chrono::duration<double>(o.duration))) {
    next += tick;
    std::this_thread::sleep_until(next);
    const auto due = static_cast<uint64_t>(o.rate * std::chrono::duration<double>(Clock::now() - start).count());
    for (; sent < due; ++sent) {
      if (outstanding.load() >= o.max_outstanding) {
        stats.Skipped();
        continue;
      }
      auto* call = new Call;
      call->stats = &stats;
      call->outstanding = &outstanding;
      outstanding.fetch_add(1);
      const int pick = static_cast<int>(rng() % 100);
      if (pick < o.echo_percent) {
        call->idempotent = o.idempotent;
        call->cntl.set_idempotent(call->idempotent);
        call->echo_req.set_payload(payload);
        echo.Echo(&call->cntl, &call->echo_req, &call->echo_resp, call);
      } else if (pick < o.echo_percent + o.write_percent) {
        call->idempotent = false;  // a write: runs at most once, never hedged
        call->register_req.set_name("loadgen" + std::to_string(++seq % 1000));
        call->register_req.set_pwd("secret");
        users.Register(&call->cntl, &call->register_req, &call->register_resp, call);
      } else {
        call->idempotent = o.idempotent;
        call->cntl.set_idempotent(call->idempotent);
        call->login_req.set_name("user" + std::to_string(++seq % 100));
        call->login_req.set_pwd("secret");
        users.Login(&call->cntl, &call->login_req, &call->login_resp, call);
      }
    }
  }
  log->info("stopping: waiting for {} calls in flight", outstanding.load());
  const auto give_up = Clock::now() + std::chrono::seconds(5);
  while (outstanding.load() > 0 && Clock::now() < give_up) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  std::fprintf(stdout, "%s", stats.Json().c_str());
  channel.value()->Shutdown();
  admin->Stop();
  krpc::log::Shutdown();
  return 0;
}
