// Logging: spdlog loggers per component ("server", "client", "registry", ...), set up once per
// process from LogOptions (level, text or JSON lines, asynchronous), plus a rate limiter for
// messages an attacker could trigger at will (bad frames, connection errors).
#pragma once

#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "krpc/status.h"

namespace krpc {
class OptionSet;
}

namespace krpc::log {

struct LogOptions {
  std::string level = "info";     // trace|debug|info|warn|error|critical|off
  std::string format = "text";    // text|json
  bool async = true;              // log through a background thread
  // Registers log_level, log_format and log_async.
  void Register(OptionSet& options);
};

// Configures every logger created after this call and the ones that exist. Call once from main().
Status Setup(const LogOptions& options);
// Routes third-party libraries' own logging (protobuf) through spdlog, rate-limited. Setup()
// calls it; programs that never call Setup() may call it directly.
void InstallLibraryLogHandlers();
// Flushes and drops the background thread; call before exit.
void Shutdown();

// The logger of one component; created on first use with the configured sinks.
std::shared_ptr<spdlog::logger> Get(std::string_view component);

// Allows `per_second` events per second and counts what it suppressed. Thread-safe, lock-free.
class RateLimiter {
 public:
  explicit RateLimiter(uint32_t per_second) : per_second_(per_second) {}
  // True if this event may be logged; `suppressed` receives the number dropped since the last
  // allowed event (so the caller can say "and N more").
  bool Allow(uint64_t* suppressed);

 private:
  const uint32_t per_second_;
  std::atomic<int64_t> window_{0};
  std::atomic<uint32_t> used_{0};
  std::atomic<uint64_t> dropped_{0};
};

// A logger behind a RateLimiter: the one way krpc logs what a peer can trigger at will. At
// most `per_second` lines a second; the first line after a dropped spell ends with
// " [N similar messages suppressed]". Thread-safe.
class LimitedLog {
 public:
  LimitedLog(std::shared_ptr<spdlog::logger> logger, uint32_t per_second)
      : logger_(std::move(logger)), limit_(per_second) {}
  template <typename... Args>
  void Log(spdlog::level::level_enum level, fmt::format_string<Args...> format, Args&&... args) {
    uint64_t suppressed = 0;
    if (!logger_->should_log(level) || !limit_.Allow(&suppressed)) return;
    std::string line = fmt::format(format, std::forward<Args>(args)...);
    if (suppressed) line += fmt::format(" [{} similar messages suppressed]", suppressed);
    logger_->log(level, line);
  }
  template <typename... Args>
  void Warn(fmt::format_string<Args...> format, Args&&... args) {
    Log(spdlog::level::warn, format, std::forward<Args>(args)...);
  }
  template <typename... Args>
  void Error(fmt::format_string<Args...> format, Args&&... args) {
    Log(spdlog::level::err, format, std::forward<Args>(args)...);
  }

 private:
  std::shared_ptr<spdlog::logger> logger_;
  RateLimiter limit_;
};

}  // namespace krpc::log
