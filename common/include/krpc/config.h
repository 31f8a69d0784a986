// Options: typed configuration keys bound to the fields of an options struct, loaded from
// (in order) defaults, a config file, the environment (KRPC_<KEY>) and command-line flags.
// Unknown keys and bad values stop loading with a message naming the key and where it came from.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "krpc/status.h"

namespace krpc {

// One spelling of an enum's value in configuration ("strict" for TlsMode::kStrict). Each typed
// option declares one constant table of these next to its enum: configuration parses through
// it (OptionSet::AddEnum) and logs print through it (NameOf), so the C++ API takes only the
// enum and a misspelt mode does not compile.
template <typename E>
struct EnumName {
  std::string_view name;
  E value;
};

// The configuration spelling of `value` ("?" for a value missing from the table).
template <typename E, size_t N>
constexpr std::string_view NameOf(const EnumName<E> (&names)[N], E value) {
  for (const auto& n : names) {
    if (n.value == value) return n.name;
  }
  return "?";
}

class OptionSet {
 public:
  explicit OptionSet(std::string env_prefix = "KRPC_") : env_prefix_(std::move(env_prefix)) {}

  void AddString(std::string key, std::string* field, std::string help);
  void AddBool(std::string key, bool* field, std::string help);
  void AddInt(std::string key, int64_t* field, int64_t min, int64_t max, std::string help);
  void AddInt(std::string key, int* field, int min, int max, std::string help);
  void AddUint(std::string key, uint32_t* field, uint32_t min, uint32_t max, std::string help);
  // An integer in [min, max], or `word` (then *chosen is true): "max_inflight = auto".
  void AddIntOr(std::string key, int* field, int min, int max, std::string word, bool* chosen, std::string help);
  void AddPort(std::string key, uint16_t* field, std::string help);
  void AddDouble(std::string key, double* field, double min, double max, std::string help);
  // A duration in seconds, in [min, max]: a bare number of seconds ("10", "1.5") or numbers with
  // units ns, us, ms, s, m, h, as Go writes them ("500ms", "10s", "1m30s").
  void AddSeconds(std::string key, double* seconds, double min, double max, std::string help);
  // A value from a fixed set of choices (e.g. log format "text" | "json").
  void AddChoice(std::string key, std::string* field, std::vector<std::string> choices, std::string help);
  // An enum option spelt as in `names` (a table with static storage); any other value is an
  // error naming the key and the accepted spellings.
  template <typename E, size_t N>
  void AddEnum(std::string key, E* field, const EnumName<E> (&names)[N], std::string help) {
    std::vector<std::string> choices;
    for (const auto& n : names) choices.emplace_back(n.name);
    AddChoiceWith(std::move(key), std::move(choices),
                  [field, &names](size_t i) { *field = names[i].value; },
                  [field, &names] { return std::string(NameOf(names, *field)); }, std::move(help));
  }

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

  // One key's parser and printer (public for the option builders in config.cc).
  struct Option {
    std::string help;
    std::function<Status(std::string_view)> set;
    std::function<std::string()> get;
    bool is_bool = false;
  };
 private:
  void Add(std::string key, Option option);
  // A value from `choices`; `pick` receives the index of the one given.
  void AddChoiceWith(std::string key, std::vector<std::string> choices, std::function<void(size_t)> pick,
                     std::function<std::string()> get, std::string help);

  std::string env_prefix_;
  std::map<std::string, Option, std::less<>> options_;
};

}  // namespace krpc
