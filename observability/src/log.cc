#include "krpc/log.h"

#include <spdlog/async.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include <mutex>

#include "krpc/config.h"

namespace krpc::log {
namespace {

// JSON lines: one object per message; %* is the message with JSON string escaping.
constexpr const char* kJsonPattern =
    R"({"ts":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l","component":"%n","thread":%t,"msg":"%*"})";

class JsonEscapedMessage : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    static constexpr char kHex[] = "0123456789abcdef";
    for (char c : std::string_view(msg.payload.data(), msg.payload.size())) {
      switch (c) {
        case '"': dest.append(std::string_view("\\\"")); break;
        case '\\': dest.append(std::string_view("\\\\")); break;
        case '\n': dest.append(std::string_view("\\n")); break;
        default:
          if (static_cast<unsigned char>(c) < 0x20) {
            const char esc[6] = {'\\', 'u', '0', '0', kHex[(c >> 4) & 0xf], kHex[c & 0xf]};
            dest.append(std::string_view(esc, 6));
          } else {
            dest.push_back(c);
          }
      }
    }
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonEscapedMessage>();
  }
};
constexpr const char* kTextPattern = "%Y-%m-%d %H:%M:%S.%f %^%L%$ [%n] %v";

struct State {
  std::mutex mu;
  LogOptions options;
  bool configured = false;
  spdlog::sink_ptr sink;
};

State& state() {
  // spdlog's registry is process-wide by design; this holds only the sink it shares.
  static State s;
  return s;
}

std::shared_ptr<spdlog::logger> Make(const std::string& name, State& s) {
  std::shared_ptr<spdlog::logger> logger;
  if (s.options.async && spdlog::thread_pool()) {
    logger = std::make_shared<spdlog::async_logger>(name, s.sink, spdlog::thread_pool(),
                                                    spdlog::async_overflow_policy::overrun_oldest);
  } else {
    logger = std::make_shared<spdlog::logger>(name, s.sink);
  }
  logger->set_level(spdlog::level::from_str(s.options.level));
  if (s.options.format == "json") {
    auto f = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
    f->add_flag<JsonEscapedMessage>('*').set_pattern(kJsonPattern);
    logger->set_formatter(std::move(f));
  } else {
    logger->set_pattern(kTextPattern, spdlog::pattern_time_type::utc);
  }
  logger->flush_on(spdlog::level::warn);
  return logger;
}

}  // namespace

void LogOptions::Register(OptionSet& options) {
  options.AddChoice("log_level", &level, {"trace", "debug", "info", "warn", "error", "critical", "off"},
                    "minimum level logged");
  options.AddChoice("log_format", &format, {"text", "json"}, "text lines or JSON lines");
  options.AddBool("log_async", &async, "log through a background thread");
}

Status Setup(const LogOptions& options) {
  auto& s = state();
  std::lock_guard lock(s.mu);
  s.options = options;
  if (!s.sink) s.sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  if (options.async && !spdlog::thread_pool()) spdlog::init_thread_pool(8192, 1);
  s.configured = true;
  std::vector<std::string> names;
  spdlog::apply_all([&](const std::shared_ptr<spdlog::logger>& l) { names.push_back(l->name()); });
  for (const auto& n : names) {
    spdlog::drop(n);
    spdlog::register_logger(Make(n, s));
  }
  return Status::Ok();
}

void Shutdown() {
  spdlog::apply_all([](const std::shared_ptr<spdlog::logger>& l) { l->flush(); });
  spdlog::shutdown();
}

std::shared_ptr<spdlog::logger> Get(std::string_view component) {
  const std::string name(component);
  if (auto l = spdlog::get(name)) return l;
  auto& s = state();
  std::lock_guard lock(s.mu);
  if (auto l = spdlog::get(name)) return l;
  if (!s.sink) s.sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  if (!s.configured) s.options.async = false;  // tests and tools that never call Setup()
  auto l = Make(name, s);
  spdlog::register_logger(l);
  return l;
}

bool RateLimiter::Allow(uint64_t* suppressed) {
  const int64_t now_s = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::steady_clock::now().time_since_epoch())
                            .count();
  int64_t window = window_.load(std::memory_order_relaxed);
  if (window != now_s && window_.compare_exchange_strong(window, now_s)) used_.store(0);
  if (used_.fetch_add(1, std::memory_order_relaxed) < per_second_) {
    *suppressed = dropped_.exchange(0);
    return true;
  }
  dropped_.fetch_add(1, std::memory_order_relaxed);
  return false;
}

}  // namespace krpc::log
