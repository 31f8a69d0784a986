#include "krpc/config.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <utility>
#include <vector>
#include <fstream>

namespace krpc {
namespace {

struct Opts {
  int heartbeat_interval_ms = 5000;
  std::string host = "0.0.0.0";
  bool enable = false;
  std::string format = "text";
  OptionSet set;
  Opts() {
    set.AddInt("heartbeat_interval_ms", &heartbeat_interval_ms, 10, 3600000, "ping period");
    set.AddString("host", &host, "host");
    set.AddBool("enable_connection_pool", &enable, "pool");
    set.AddChoice("log_format", &format, {"text", "json"}, "format");
  }
};

std::string TempFile(const std::string& text) {
  char name[] = "/tmp/krpc-config-XXXXXX";
  int fd = mkstemp(name);
  EXPECT_GE(fd, 0);
  std::ofstream(name) << text;
  close(fd);
  return name;
}

TEST(ConfigTest, sources_apply_in_order_defaults_file_env_flags) {
  Opts o;
  const auto file = TempFile("# comment\nheartbeat_interval_ms = 100\nhost=file-host\n");
  const char* argv[] = {"prog", "-c", file.c_str(), "--host", "flag-host", "--enable_connection_pool"};
  Status s = o.set.Load(6, argv, {{"KRPC_HEARTBEAT_INTERVAL_MS", "200"}, {"KRPC_HOST", "env-host"}});
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(o.heartbeat_interval_ms, 200);
  EXPECT_EQ(o.host, "flag-host");
  EXPECT_TRUE(o.enable);
  std::remove(file.c_str());
}

TEST(ConfigTest, bad_value_names_the_key_and_source) {
  Opts o;
  const char* argv[] = {"prog", "--heartbeat_interval_ms=abc"};
  Status s = o.set.Load(2, argv, {});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("heartbeat_interval_ms"), std::string::npos) << s;
  EXPECT_NE(s.message().find("flag --heartbeat_interval_ms"), std::string::npos) << s;

  Opts range;
  s = range.set.Load(1, argv, {{"KRPC_HEARTBEAT_INTERVAL_MS", "1"}});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("env KRPC_HEARTBEAT_INTERVAL_MS"), std::string::npos) << s;
  EXPECT_NE(s.message().find("out of range"), std::string::npos) << s;

  Opts choice;
  const char* argv2[] = {"prog", "--log_format", "xml"};
  s = choice.set.Load(3, argv2, {});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("text|json"), std::string::npos) << s;
}

TEST(ConfigTest, unknown_keys_stop_loading) {
  Opts o;
  const auto file = TempFile("no_such_key = 1\n");
  const char* argv[] = {"prog", "-c", file.c_str()};
  Status s = o.set.Load(3, argv, {});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("no_such_key"), std::string::npos);
  EXPECT_NE(s.message().find(":1"), std::string::npos) << "names the line";
  const char* argv2[] = {"prog", "--bogus=1"};
  EXPECT_FALSE(o.set.Load(2, argv2, {}).ok());
  std::remove(file.c_str());
}

TEST(ConfigTest, missing_file_is_an_error) {
  Opts o;
  const char* argv[] = {"prog", "-c", "/nonexistent/krpc.conf"};
  Status s = o.set.Load(3, argv, {});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("/nonexistent/krpc.conf"), std::string::npos);
}

TEST(ConfigTest, durations_take_bare_seconds_or_go_style_units) {
  for (const auto& [text, want] : std::vector<std::pair<std::string, double>>{
           {"10", 10}, {"1.5", 1.5}, {"10s", 10}, {"500ms", 0.5}, {"2m", 120}, {"1m30s", 90}, {"1h", 3600},
           {"250us", 250e-6}}) {
    double seconds = -1;
    OptionSet set;
    set.AddSeconds("duration", &seconds, 0, 86400, "");
    Status s = set.Set("duration", text, "flag --duration");
    ASSERT_TRUE(s.ok()) << text << ": " << s;
    EXPECT_DOUBLE_EQ(seconds, want) << text;
  }
  for (const std::string bad : {"", "s", "10x", "ten", "1m30", "-5s", "2d"}) {
    double seconds = 7;
    OptionSet set;
    set.AddSeconds("duration", &seconds, 0, 86400, "");
    Status s = set.Set("duration", bad, "flag --duration");
    EXPECT_FALSE(s.ok()) << "'" << bad << "' was taken";
    EXPECT_NE(s.message().find("duration"), std::string::npos) << s;
    EXPECT_EQ(seconds, 7) << bad;
  }
  double seconds = 0;
  OptionSet set;
  set.AddSeconds("duration", &seconds, 0, 60, "");
  Status s = set.Set("duration", "2m", "flag --duration");
  EXPECT_NE(s.message().find("out of range"), std::string::npos) << s;
}

}  // namespace
}  // namespace krpc
