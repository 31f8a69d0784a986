// krpc bench: load-tests any method (schemas as for krpc call) like ghz: closed loop
// (--concurrency calls in flight) or open loop (--rate calls/s, latency measured from each
// call's scheduled start, at most --concurrency in flight), for --duration seconds or --total
// calls, with a progress bar on a terminal and a summary as text, JSON or CSV.
#include <unistd.h>

#include <fmt/format.h>

#include <array>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>

#include "bench_report.h"
#include "cli.h"
#include "krpc/controller.h"
#include "schema.h"

namespace krpc::cli {
namespace gp = google::protobuf;
using Clock = std::chrono::steady_clock;

namespace {

class Slot;

struct BenchRun {
  const Flags& flags;
  const gp::MethodDescriptor* method;
  std::vector<std::shared_ptr<Channel>> channels;
  Clock::time_point start;
  Clock::time_point end;           // when --duration ends (or max)
  std::atomic<int64_t> issued{0};  // calls started
  std::atomic<int64_t> done{0};    // calls completed
  std::atomic<int> inflight{0};
  std::atomic<bool> stop{false};
  tools::LatencyHistogram latencies;
  tools::LatencyHistogram ok_latencies;  // the successful calls only
  std::atomic<uint64_t> sum_us{0}, min_us{UINT64_MAX}, max_us{0};
  std::array<std::atomic<uint64_t>, 17> codes{};
  std::mutex mu;
  std::condition_variable cv;      // a call completed (the open loop and the end wait on it)
  std::map<std::string, uint64_t> errors;  // under mu

  explicit BenchRun(const Flags& f, const gp::MethodDescriptor* m) : flags(f), method(m) {}

  // Takes a slot for one more call; false once the run is over.
  bool Admit() {
    if (stop.load(std::memory_order_relaxed)) return false;
    const int64_t n = issued.fetch_add(1, std::memory_order_relaxed);
    if (flags.total > 0 && n >= flags.total) return false;
    if (flags.duration_s > 0 && Clock::now() >= end) return false;
    return true;
  }

  void Record(const Controller& cntl, Clock::time_point started) {
    const auto us = static_cast<uint64_t>(
        std::max<int64_t>(0, std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started).count()));
    latencies.Record(us);
    if (!cntl.Failed()) ok_latencies.Record(us);
    sum_us.fetch_add(us, std::memory_order_relaxed);
    for (uint64_t m = min_us.load(); us < m && !min_us.compare_exchange_weak(m, us);) {}
    for (uint64_t m = max_us.load(); us > m && !max_us.compare_exchange_weak(m, us);) {}
    codes[static_cast<size_t>(cntl.code())].fetch_add(1, std::memory_order_relaxed);
    if (cntl.Failed()) {
      std::lock_guard lock(mu);
      if (errors.size() < 100 || errors.contains(cntl.status().message())) ++errors[cntl.status().message()];
    }
  }

  // A call ended and its slot takes no more: frees the slot (`free_slot`, open loop) and
  // wakes the waiters, in one step under mu so no wake-up is lost; the notify too, since the
  // main thread frees `cv` (and the slots) as soon as it sees the last call end.
  // Open loop: the main thread is woken only when it waits for a slot or for the end (a
  // wake-up per completion would cost as much as the calls at high rates).
  void Completed(Slot* free_slot) {
    done.fetch_add(1, std::memory_order_relaxed);
    std::lock_guard lock(mu);
    if (free_slot) free_slots.push_back(free_slot);
    const bool last = inflight.fetch_sub(1, std::memory_order_relaxed) == 1;
    if (waiting || last || free_slot == nullptr) cv.notify_all();
  }
  std::vector<Slot*> free_slots;  // open loop, under mu
  bool waiting = false;           // under mu: the main thread waits for a slot
};

// One call slot: owns its response and controller (the request, never written, is shared); in
// the closed loop it re-issues itself from its completion.
class Slot final : public gp::Closure {
 public:
  Slot(BenchRun& run, Channel& channel, const gp::Message& request, Schema& schema, bool closed_loop)
      : run_(run), channel_(channel), closed_loop_(closed_loop), request_(request) {
    response_.reset(schema.NewMessage(run.method->output_type()));
  }

  void Issue(Clock::time_point scheduled) {
    started_ = scheduled;
    cntl_.Reset();
    for (const auto& [k, v] : run_.flags.headers) cntl_.AddMetadata(k, v);
    response_->Clear();
    channel_.CallMethod(run_.method, &cntl_, &request_, response_.get(), this);
  }

  void Run() override {
    run_.Record(cntl_, started_);
    if (closed_loop_ && run_.Admit()) {
      run_.done.fetch_add(1, std::memory_order_relaxed);  // no wake-up: the progress bar polls
      return Issue(Clock::now());
    }
    run_.Completed(closed_loop_ ? nullptr : this);
  }

 private:
  BenchRun& run_;
  Channel& channel_;
  bool closed_loop_;
  const gp::Message& request_;
  std::unique_ptr<gp::Message> response_;
  Controller cntl_;
  Clock::time_point started_;
};

void Progress(BenchRun& run, bool on) {
  if (!on) return;
  const int width = 40;
  for (bool last = false; !last;) {
    last = run.stop.load();  // the run is over: draw it full once more, then stop
    const double elapsed = std::chrono::duration<double>(Clock::now() - run.start).count();
    double frac = 0;
    if (run.flags.total > 0) frac = static_cast<double>(run.done.load()) / static_cast<double>(run.flags.total);
    if (run.flags.duration_s > 0) frac = std::max(frac, elapsed / run.flags.duration_s);
    frac = last ? 1.0 : std::min(1.0, frac);
    const int fill = static_cast<int>(frac * width);
    std::string bar(static_cast<size_t>(fill), '=');
    if (fill < width) bar += '>';
    bar.resize(width, ' ');
    uint64_t failed = 0;
    for (size_t c = 1; c < run.codes.size(); ++c) failed += run.codes[c].load(std::memory_order_relaxed);
    std::fprintf(stderr, "\r[%s] %3d%%  %lld calls  %.0f/s  %llu errors ", bar.c_str(), static_cast<int>(frac * 100),
                 static_cast<long long>(run.done.load()), elapsed > 0 ? static_cast<double>(run.done.load()) / elapsed : 0.0,
                 static_cast<unsigned long long>(failed));
    std::fflush(stderr);
    if (last) break;
    std::unique_lock lock(run.mu);
    run.cv.wait_for(lock, std::chrono::milliseconds(200), [&] { return run.stop.load(); });
  }
  std::fprintf(stderr, "\n");
}

}  // namespace

int Bench(Flags& flags, const std::vector<std::string>& args) {
  if (args.size() != 1) {
    std::fprintf(stderr, "krpc bench: give one METHOD, e.g. pkg.Service/Method (see krpc bench --help)\n");
    return kExitUsage;
  }
  if (flags.duration_s <= 0 && flags.total <= 0) flags.duration_s = 10;  // ghz's default is 200 calls; ours 10 s
  std::string service, method_name;
  if (!SplitMethodName(args[0], &service, &method_name)) {
    std::fprintf(stderr, "krpc bench: '%s' is not a method name (want pkg.Service/Method)\n", args[0].c_str());
    return kExitUsage;
  }
  auto text = RequestText(flags.data);
  if (!text.ok()) {
    std::fprintf(stderr, "krpc bench: %s\n", text.status().message().c_str());
    return kExitUsage;
  }
  std::vector<std::shared_ptr<Channel>> channels;
  for (int i = 0; i < flags.connections; ++i) {
    auto ch = MakeChannel(flags, "bench");
    if (!ch) return kExitUsage;
    channels.push_back(std::move(ch));
  }
  int exit = 0;
  auto call = PrepareCall(flags, *channels[0], args[0], *text, "bench", &exit);
  if (!call) return exit;
  const auto* method = call->method;

  BenchRun run(flags, method);
  const bool closed = flags.rate <= 0;
  std::vector<std::unique_ptr<Slot>> slots;
  for (int i = 0; i < flags.concurrency; ++i) {
    slots.push_back(std::make_unique<Slot>(run, *channels[static_cast<size_t>(i) % channels.size()], *call->request,
                                           *call->schema, closed));
  }
  for (auto it = slots.rbegin(); it != slots.rend(); ++it) run.free_slots.push_back(it->get());
  const bool progress = flags.progress == "on" || (flags.progress == "auto" && ::isatty(STDERR_FILENO));
  run.start = Clock::now();
  run.end = flags.duration_s > 0 ? run.start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(flags.duration_s))
                                 : Clock::time_point::max();
  std::thread progress_thread([&] { Progress(run, progress); });
  if (closed) {
    for (auto& s : slots) {
      if (!run.Admit()) break;
      run.inflight.fetch_add(1);
      s->Issue(Clock::now());
    }
  } else {
    // Open loop: call k starts at start + k / rate; a call that finds every slot busy waits
    // for one, and its latency still counts from its scheduled start.
    const auto period = std::chrono::duration<double>(1.0 / flags.rate);
    for (int64_t k = 0;; ++k) {
      const auto due = run.start + std::chrono::duration_cast<Clock::duration>(period * static_cast<double>(k));
      if (const auto now = Clock::now(); now < due) std::this_thread::sleep_until(due);
      if (!run.Admit()) break;
      std::unique_lock lock(run.mu);
      run.waiting = true;
      run.cv.wait(lock, [&] { return !run.free_slots.empty(); });
      run.waiting = false;
      Slot* slot = run.free_slots.back();
      run.free_slots.pop_back();
      run.inflight.fetch_add(1);
      lock.unlock();
      slot->Issue(due);
    }
  }
  {  // every call started has completed
    std::unique_lock lock(run.mu);
    run.cv.wait(lock, [&] { return run.inflight.load() == 0; });
  }
  const auto finished = Clock::now();
  run.stop.store(true);
  run.cv.notify_all();
  progress_thread.join();

  BenchReport report;
  report.method = method->service()->full_name() + "/" + method->name();
  report.target = flags.target;
  report.mode = closed ? "closed loop, concurrency " + std::to_string(flags.concurrency)
                       : fmt::format("open loop, {:g} calls/s (at most {} in flight)", flags.rate, flags.concurrency);
  report.total_s = std::chrono::duration<double>(finished - run.start).count();
  report.count = run.latencies.count();
  if (report.count > 0) {
    report.fastest_us = static_cast<double>(run.min_us.load());
    report.slowest_us = static_cast<double>(run.max_us.load());
    report.average_us = static_cast<double>(run.sum_us.load()) / static_cast<double>(report.count);
  }
  for (size_t c = 0; c < run.codes.size(); ++c) {
    if (auto n = run.codes[c].load()) report.status_codes[std::string(StatusCodeName(static_cast<StatusCode>(c)))] = n;
  }
  report.errors = run.errors;
  report.Summarize(run.latencies, run.ok_latencies);
  const std::string out = flags.format == "json" ? report.Json() : flags.format == "csv" ? report.Csv() : report.Text();
  std::fwrite(out.data(), 1, out.size(), stdout);
  // Exit 0 when calls succeeded; when every call failed, the code of the failure.
  const uint64_t ok = report.status_codes.count("OK") ? report.status_codes["OK"] : 0;
  if (ok == 0 && report.count > 0) {
    for (size_t c = 1; c < run.codes.size(); ++c) {
      if (run.codes[c].load()) return ExitFor(static_cast<StatusCode>(c));
    }
  }
  return ok == 0 ? kExitOther : 0;
}

}  // namespace krpc::cli
