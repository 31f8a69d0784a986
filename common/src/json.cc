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
  // Four hex digits after "\\u"; nullopt unless all four are hex.
  std::optional<unsigned> Hex4() {
    if (i + 4 > s.size()) return std::nullopt;
    unsigned v = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = s[i++];
      const int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
      if (d < 0) return std::nullopt;
      v = v * 16 + static_cast<unsigned>(d);
    }
    return v;
  }
  // The code point of a \\u escape (a surrogate pair counts as one); a lone surrogate becomes
  // U+FFFD. nullopt when the escape is malformed.
  std::optional<unsigned> CodePoint() {
    auto hi = Hex4();
    if (!hi) return std::nullopt;
    if (*hi < 0xD800 || *hi > 0xDFFF) return hi;
    if (*hi <= 0xDBFF && i + 6 <= s.size() && s[i] == '\\' && s[i + 1] == 'u') {
      const size_t at = i;
      i += 2;
      auto lo = Hex4();
      if (!lo) return std::nullopt;
      if (*lo >= 0xDC00 && *lo <= 0xDFFF) return 0x10000 + ((*hi - 0xD800) << 10) + (*lo - 0xDC00);
      i = at;  // not a low surrogate: leave it to be read as its own escape
    }
    return 0xFFFD;
  }
  static void AppendUtf8(std::string& out, unsigned cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
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
            const auto cp = CodePoint();
            if (!cp) return std::nullopt;
            AppendUtf8(out, *cp);
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
