#include "krpc/config.h"

#include "config_parse.h"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <sstream>

extern char** environ;
namespace krpc {
namespace {
using config_parse::Bad;
using config_parse::ParseNumber;

std::string_view Trim(std::string_view s) {
  const auto b = s.find_first_not_of(" \t\r");
  if (b == std::string_view::npos) return {};
  const auto e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

std::string UpperEnvName(std::string_view prefix, std::string_view key) {
  std::string name(prefix);
  for (char c : key) name.push_back(c == '-' || c == '.' ? '_' : static_cast<char>(std::toupper(c)));
  return name;
}

}  // namespace

void OptionSet::Add(std::string key, Option option) { options_[std::move(key)] = std::move(option); }

void OptionSet::AddString(std::string key, std::string* field, std::string help) {
  Add(std::move(key), {std::move(help),
                       [field](std::string_view v) { *field = std::string(v); return Status::Ok(); },
                       [field] { return *field; }});
}

void OptionSet::AddBool(std::string key, bool* field, std::string help) {
  Option o{std::move(help),
           [field](std::string_view v) {
             if (v == "true" || v == "1" || v == "yes" || v == "on") *field = true;
             else if (v == "false" || v == "0" || v == "no" || v == "off") *field = false;
             else return Bad("expected true or false");
             return Status::Ok();
           },
           [field] { return std::string(*field ? "true" : "false"); }};
  o.is_bool = true;
  Add(std::move(key), std::move(o));
}

// Integer options: parse, range-check, store; the error names the range.
template <typename T, typename Wide>
OptionSet::Option IntegerOption(T* field, Wide min, Wide max, std::string help, const char* what) {
  return {std::move(help),
          [=](std::string_view v) {
            Wide x = 0;
            if (!ParseNumber(v, &x)) return Bad(what);
            if (x < min || x > max) return Bad("out of range [" + std::to_string(min) + ", " + std::to_string(max) + "]");
            *field = static_cast<T>(x);
            return Status::Ok();
          },
          [field] { return std::to_string(*field); }};
}

void OptionSet::AddInt(std::string key, int64_t* field, int64_t min, int64_t max, std::string help) {
  Add(std::move(key), IntegerOption<int64_t, int64_t>(field, min, max, std::move(help), "not an integer"));
}

void OptionSet::AddInt(std::string key, int* field, int min, int max, std::string help) {
  Add(std::move(key), IntegerOption<int, int64_t>(field, min, max, std::move(help), "not an integer"));
}

void OptionSet::AddUint(std::string key, uint32_t* field, uint32_t min, uint32_t max, std::string help) {
  Add(std::move(key), IntegerOption<uint32_t, uint64_t>(field, min, max, std::move(help), "not a non-negative integer"));
}

void OptionSet::AddIntOr(std::string key, int* field, int min, int max, std::string word, bool* chosen,
                         std::string help) {  // AddInt's parser, or the word
  auto set = IntegerOption<int, int64_t>(field, min, max, help, "not an integer").set;
  Add(std::move(key), {std::move(help), [=](std::string_view v) {
                         const Status st = (*chosen = v == word) ? Status::Ok() : set(v);
                         return st.ok() ? st : Bad(st.message() + " (nor '" + word + "')");
                       }, [=] { return *chosen ? word : std::to_string(*field); }});
}

void OptionSet::AddPort(std::string key, uint16_t* field, std::string help) {
  Add(std::move(key), {std::move(help),
                       [=](std::string_view v) {
                         uint32_t x = 0;
                         if (!ParseNumber(v, &x) || x > 65535) return Bad("not a port number (0-65535)");
                         *field = static_cast<uint16_t>(x);
                         return Status::Ok();
                       },
                       [field] { return std::to_string(*field); }});
}

void OptionSet::AddDouble(std::string key, double* field, double min, double max, std::string help) {
  Add(std::move(key), {std::move(help),
                       [=](std::string_view v) {
                         double x = 0;
                         if (!ParseNumber(v, &x)) return Bad("not a number");
                         if (x < min || x > max) {
                           std::ostringstream os;
                           os << "out of range [" << min << ", " << max << "]";
                           return Bad(os.str());
                         }
                         *field = x;
                         return Status::Ok();
                       },
                       [field] {
                         std::ostringstream os;
                         os << *field;
                         return os.str();
                       }});
}

void OptionSet::AddChoice(std::string key, std::string* field, std::vector<std::string> choices,
                          std::string help) {
  auto names = choices;
  AddChoiceWith(std::move(key), std::move(choices), [field, names](size_t i) { *field = names[i]; },
                [field] { return *field; }, std::move(help));
}

void OptionSet::AddChoiceWith(std::string key, std::vector<std::string> choices, std::function<void(size_t)> pick,
                              std::function<std::string()> get, std::string help) {
  Add(std::move(key), {std::move(help),
                       [choices = std::move(choices), pick = std::move(pick)](std::string_view v) {
                         const auto it = std::find(choices.begin(), choices.end(), v);
                         if (it == choices.end()) {
                           std::string all;
                           for (const auto& c : choices) all += (all.empty() ? "" : "|") + c;
                           return Bad("expected one of " + all);
                         }
                         pick(static_cast<size_t>(it - choices.begin()));
                         return Status::Ok();
                       },
                       std::move(get)});
}

Status OptionSet::Set(std::string_view key, std::string_view value, std::string_view source) {
  auto it = options_.find(key);
  if (it == options_.end()) {
    return Bad("unknown configuration key '" + std::string(key) + "' (from " + std::string(source) + ")");
  }
  Status s = it->second.set(Trim(value));
  if (!s.ok()) {
    return Bad("bad value for '" + std::string(key) + "' = '" + std::string(value) + "' (from " +
               std::string(source) + "): " + s.message());
  }
  return Status::Ok();
}

Status OptionSet::LoadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Bad("cannot read config file '" + path + "'");
  std::stringstream text;
  text << in.rdbuf();
  return LoadText(text.str(), "file " + path);
}

Status OptionSet::LoadText(std::string_view text, std::string_view source_name) {
  for (int n = 1; !text.empty(); ++n) {
    const auto nl = text.find('\n');
    std::string_view l = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    if (auto hash = l.find('#'); hash != std::string_view::npos) l = l.substr(0, hash);
    l = Trim(l);
    if (l.empty()) continue;
    const auto eq = l.find('=');
    const std::string source = std::string(source_name) + ":" + std::to_string(n);
    if (eq == std::string_view::npos) return Bad("expected 'key = value' (" + source + ")");
    Status s = Set(Trim(l.substr(0, eq)), Trim(l.substr(eq + 1)), source);
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

Status OptionSet::LoadEnv(const std::map<std::string, std::string>& env) {
  for (const auto& [key, option] : options_) {
    const std::string name = UpperEnvName(env_prefix_, key);
    if (auto it = env.find(name); it != env.end()) {
      Status s = Set(key, it->second, "env " + name);
      if (!s.ok()) return s;
    }
  }
  return Status::Ok();
}

Status OptionSet::LoadFlags(int argc, const char* const* argv, std::vector<std::string>* positional) {
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "-c" || arg == "--config") {
      ++i;  // handled by Load()
      continue;
    }
    if (arg.substr(0, 2) != "--") {
      if (positional) {
        positional->emplace_back(arg);
        continue;
      }
      return Bad("unexpected argument '" + std::string(arg) + "'");
    }
    arg.remove_prefix(2);
    std::string key(arg.substr(0, arg.find('=')));
    std::replace(key.begin(), key.end(), '-', '_');
    const std::string source = "flag --" + key;
    if (arg.find('=') != std::string_view::npos) {
      Status s = Set(key, arg.substr(arg.find('=') + 1), source);
      if (!s.ok()) return s;
      continue;
    }
    auto it = options_.find(key);
    if (it != options_.end() && it->second.is_bool &&
        (i + 1 >= argc || std::string_view(argv[i + 1]).substr(0, 2) == "--")) {
      Status s = Set(key, "true", source);
      if (!s.ok()) return s;
      continue;
    }
    if (it != options_.end() && i + 1 >= argc) return Bad("flag --" + key + " needs a value");
    Status s = Set(key, i + 1 < argc ? argv[i + 1] : "", source);
    if (!s.ok()) return s;
    ++i;
  }
  return Status::Ok();
}

Status OptionSet::Load(int argc, const char* const* argv, const std::map<std::string, std::string>& env,
                       std::vector<std::string>* positional) {
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "-c" || arg == "--config") {
      if (i + 1 >= argc) return Bad("flag " + std::string(arg) + " needs a file name");
      Status s = LoadFile(argv[i + 1]);
      if (!s.ok()) return s;
    } else if (arg.substr(0, 9) == "--config=") {
      Status s = LoadFile(std::string(arg.substr(9)));
      if (!s.ok()) return s;
    }
  }
  if (auto it = env.find(env_prefix_ + "CONFIG"); it != env.end() && !it->second.empty()) {
    // KRPC_CONFIG names a file too; it is applied before the other environment variables.
    Status s = LoadFile(it->second);
    if (!s.ok()) return s;
  }
  Status s = LoadEnv(env);
  if (!s.ok()) return s;
  std::vector<const char*> args;
  for (int i = 0; i < argc; ++i) {
    if (std::string_view(argv[i]).substr(0, 9) == "--config=") continue;
    args.push_back(argv[i]);
  }
  return LoadFlags(static_cast<int>(args.size()), args.data(), positional);
}

bool OptionSet::Has(std::string_view key) const { return options_.find(key) != options_.end(); }

bool OptionSet::WantsHelp(int argc, const char* const* argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "-h" || a == "--help") return true;
  }
  return false;
}

std::string OptionSet::Help() const {
  std::ostringstream os;
  for (const auto& [key, o] : options_) {
    os << "  --" << key << " (default " << o.get() << ", env " << UpperEnvName(env_prefix_, key) << ")\n      "
       << o.help << "\n";
  }
  return os.str();
}

std::map<std::string, std::string> OptionSet::Values() const {
  std::map<std::string, std::string> out;
  for (const auto& [key, o] : options_) out[key] = o.get();
  return out;
}

std::map<std::string, std::string> OptionSet::ProcessEnv() {
  std::map<std::string, std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string_view kv = *e;
    const auto eq = kv.find('=');
    if (eq != std::string_view::npos) env.emplace(kv.substr(0, eq), kv.substr(eq + 1));
  }
  return env;
}

}  // namespace krpc
