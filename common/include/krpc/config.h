// Options: typed configuration keys bound to the fields of an options struct, loaded from
// (in order) defaults, a config file, the environment (KRPC_<KEY>) and command-line flags.
// Unknown keys and bad values stop loading with a message naming the key and where it came from.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "krpc/status.h"

namespace krpc {

class OptionSet {
 public:
  explicit OptionSet(std::string env_prefix = "KRPC_") : env_prefix_(std::move(env_prefix)) {}

  void AddString(std::string key, std::string* field, std::string help);
  void AddBool(std::string key, bool* field, std::string help);
  void AddInt(std::string key, int64_t* field, int64_t min, int64_t max, std::string help);
  void AddInt(std::string key, int* field, int min, int max, std::string help);
  void AddUint(std::string key, uint32_t* field, uint32_t min, uint32_t max, std::string help);
  void AddPort(std::string key, uint16_t* field, std::string help);
  void AddDouble(std::string key, double* field, double min, double max, std::string help);
  // A value from a fixed set of choices (e.g. log format "text" | "json").
  void AddChoice(std::string key, std::string* field, std::vector<std::string> choices, std::string help);

  // Sets one key from a source label ("file x.conf:3", "env KRPC_X", "flag --x").
  Status Set(std::string_view key, std::string_view value, std::string_view source);
  // Reads "key = value" lines; '#' starts a comment.
  Status LoadFile(const std::string& path);
  // The same, from text already in memory; `source_name` labels errors ("file x.conf").
  Status LoadText(std::string_view text, std::string_view source_name);
  // Applies every registered key found in `env` under env_prefix + KEY (upper case).
  Status LoadEnv(const std::map<std::string, std::string>& env);
  // Flags: --key=value, --key value, --flag (bools), -c/--config FILE. Non-flag arguments
  // are returned through `positional` when given, else they are an error.
  Status LoadFlags(int argc, const char* const* argv, std::vector<std::string>* positional = nullptr);
  // Defaults < file (from -c/--config) < environment < flags.
  Status Load(int argc, const char* const* argv, const std::map<std::string, std::string>& env,
              std::vector<std::string>* positional = nullptr);

  bool Has(std::string_view key) const;
  // One line per key: name, default/current value, help.
  std::string Help() const;
  // True when argv asks for help: "-h" or "--help" anywhere among the arguments.
  static bool WantsHelp(int argc, const char* const* argv);
  // key -> current value text, for /status pages and logs.
  std::map<std::string, std::string> Values() const;

  static std::map<std::string, std::string> ProcessEnv();

 public:
  // One key's parser and printer (public for the option builders in config.cc).
  struct Option {
    std::string help;
    std::function<Status(std::string_view)> set;
    std::function<std::string()> get;
    bool is_bool = false;
  };
 private:
  void Add(std::string key, Option option);

  std::string env_prefix_;
  std::map<std::string, Option, std::less<>> options_;
};

}  // namespace krpc
