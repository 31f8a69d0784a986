#include "krpc/json.h"

#include <cmath>
#include <cstdio>

namespace krpc::json {

std::string Quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

void Object::Key(std::string_view key) {
  if (body_.size() > 1) body_ += ",";
  body_ += Quote(key);
  body_ += ":";
}

Object& Object::Add(std::string_view key, std::string_view value) {
  Key(key);
  body_ += Quote(value);
  return *this;
}
Object& Object::Add(std::string_view key, int64_t value) {
  Key(key);
  body_ += std::to_string(value);
  return *this;
}
Object& Object::Add(std::string_view key, uint64_t value) {
  Key(key);
  body_ += std::to_string(value);
  return *this;
}
Object& Object::Add(std::string_view key, double value) {
  Key(key);
  if (!std::isfinite(value)) {  // JSON has no inf/nan
    body_ += "null";
    return *this;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", value);
  body_ += buf;
  return *this;
}
Object& Object::Add(std::string_view key, bool value) {
  Key(key);
  body_ += value ? "true" : "false";
  return *this;
}
Object& Object::AddRaw(std::string_view key, std::string_view raw) {
  Key(key);
  body_ += raw;
  return *this;
}

namespace {

struct Reader {
  std::string_view s;
  size_t i = 0;
  void Space() {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\n' || s[i] == '\t' || s[i] == '\r')) ++i;
  }
  bool Eat(char c) {
    Space();
    if (i < s.size() && s[i] == c) {
      ++i;
      return true;
    }
    return false;
  }
  std::optional<std::string> String() {
    if (!Eat('"')) return std::nullopt;
    std::string out;
    while (i < s.size() && s[i] != '"') {
      char c = s[i++];
      if (c == '\\') {
        if (i >= s.size()) return std::nullopt;
        const char e = s[i++];
        switch (e) {
          case 'n': out += '\n'; break;
          case 't': out += '\t'; break;
          case 'r': out += '\r'; break;
          case 'u': {
            if (i + 4 > s.size()) return std::nullopt;
            const unsigned v = static_cast<unsigned>(std::stoul(std::string(s.substr(i, 4)), nullptr, 16));
            i += 4;
            if (v < 0x80) out += static_cast<char>(v);
            else out += '?';
            break;
          }
          default: out += e;
        }
      } else {
        out += c;
      }
    }
    if (i >= s.size()) return std::nullopt;
    ++i;
    return out;
  }
  std::optional<std::string> Scalar() {
    Space();
    if (i < s.size() && s[i] == '"') return String();
    const size_t b = i;
    while (i < s.size() && s[i] != ',' && s[i] != '}' && s[i] != ' ' && s[i] != '\n') ++i;
    if (b == i) return std::nullopt;
    std::string v(s.substr(b, i - b));
    if (v.find_first_of("[{\"") != std::string::npos) return std::nullopt;
    return v;
  }
};

}  // namespace

std::optional<std::map<std::string, std::string>> ParseFlatObject(std::string_view text) {
  Reader r{text};
  std::map<std::string, std::string> out;
  if (!r.Eat('{')) return std::nullopt;
  if (r.Eat('}')) return out;
  do {
    auto k = r.String();
    if (!k || !r.Eat(':')) return std::nullopt;
    auto v = r.Scalar();
    if (!v) return std::nullopt;
    out[*k] = *v;
  } while (r.Eat(','));
  if (!r.Eat('}')) return std::nullopt;
  return out;
}

}  // namespace krpc::json
