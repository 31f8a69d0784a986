#include "zk_log.h"

#include <string>
#include <string_view>

#include "krpc/log.h"

namespace krpc {

// The ZooKeeper C client's log lines ("<time>:<pid>(<tid>):ZOO_ERROR@fn@line: text") go to
// spdlog, so that with log_format=json every line on stderr is JSON, rate-limited so a
// flapping ensemble cannot flood the log. The C API passes no context pointer: the limiter
// is the one piece of process-wide state this needs.
void ZooKeeperLog(const char* message) {
  static log::LimitedLog limited{log::Get("zookeeper"), 20};
  std::string_view text(message ? message : "");
  auto level = spdlog::level::info;
  if (const auto at = text.find("ZOO_"); at != std::string_view::npos) {
    const auto tag = text.substr(at + 4);
    if (tag.starts_with("ERROR")) level = spdlog::level::err;
    else if (tag.starts_with("WARN")) level = spdlog::level::warn;
    else if (tag.starts_with("DEBUG")) level = spdlog::level::debug;
    text.remove_prefix(at);
  }
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
  limited.Log(level, "{}", text);
}

}  // namespace krpc
