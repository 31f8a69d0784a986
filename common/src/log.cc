#include "krpc/log.h"

#include <google/protobuf/stubs/logging.h>
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

// Length of the valid UTF-8 sequence at the start of `s`, or 0 when it is not valid.
size_t Utf8Sequence(std::string_view s) {
  const auto b = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char c = b(0);
  size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
  if (n == 0 || n > s.size()) return 0;
  for (size_t i = 1; i < n; ++i) {
    if ((b(i) & 0xc0) != 0x80) return 0;
  }
  const uint32_t cp = n == 1 ? c : n == 2 ? ((c & 0x1fu) << 6) | (b(1) & 0x3fu)
                     : n == 3 ? ((c & 0x0fu) << 12) | ((b(1) & 0x3fu) << 6) | (b(2) & 0x3fu)
                              : ((c & 0x07u) << 18) | ((b(1) & 0x3fu) << 12) | ((b(2) & 0x3fu) << 6) | (b(3) & 0x3fu);
  const bool overlong = (n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000);
  if (overlong || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return n;
}

// The message as the body of a JSON string: quotes, backslashes and control characters
// escaped, and bytes that are not valid UTF-8 (a peer's method name, say) replaced by U+FFFD,
// so every line stays valid JSON whatever a client sends.
class JsonEscapedMessage : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string_view text(msg.payload.data(), msg.payload.size());
    while (!text.empty()) {
      const size_t n = Utf8Sequence(text);
      if (n == 0) {
        dest.append(std::string_view("\\ufffd"));
        text.remove_prefix(1);
        continue;
      }
      if (n > 1) {
        dest.append(text.substr(0, n));
        text.remove_prefix(n);
        continue;
      }
      const char c = text.front();
      text.remove_prefix(1);
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

namespace {
// Protobuf's own messages (e.g. "String field contains invalid UTF-8", which any client can
// trigger once per request) go through spdlog and a rate limit instead of raw stderr lines.
void ProtobufLog(google::protobuf::LogLevel level, const char* file, int line, const std::string& message) {
  // Protobuf's handler takes no context: one limited log per process.
  static LimitedLog limited{Get("protobuf"), 20};
  const auto lvl = level >= google::protobuf::LOGLEVEL_ERROR     ? spdlog::level::err
                   : level == google::protobuf::LOGLEVEL_WARNING ? spdlog::level::warn
                                                                 : spdlog::level::info;
  limited.Log(lvl, "{} ({}:{})", message, file ? file : "?", line);
}

}  // namespace

void InstallLibraryLogHandlers() { google::protobuf::SetLogHandler(&ProtobufLog); }

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
  InstallLibraryLogHandlers();
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
