// Minimal JSON for krpc's own small documents (znode data, /status, CLI output): a writer,
// and a reader for flat objects of strings, numbers and booleans.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace krpc::json {

// Escapes and quotes a string.
std::string Quote(std::string_view s);

// Builds one JSON object: Object().Add("a", 1).Add("b", "x").str() == {"a":1,"b":"x"}
class Object {
 public:
  Object& Add(std::string_view key, std::string_view value);
  Object& Add(std::string_view key, const char* value) { return Add(key, std::string_view(value)); }
  Object& Add(std::string_view key, const std::string& value) { return Add(key, std::string_view(value)); }
  Object& Add(std::string_view key, int64_t value);
  Object& Add(std::string_view key, uint64_t value);
  Object& Add(std::string_view key, int value) { return Add(key, int64_t{value}); }
  Object& Add(std::string_view key, unsigned value) { return Add(key, uint64_t{value}); }
  Object& Add(std::string_view key, double value);
  Object& Add(std::string_view key, bool value);
  // `raw` must already be valid JSON (an array or object).
  Object& AddRaw(std::string_view key, std::string_view raw);
  std::string str() const { return body_ + "}"; }

 private:
  void Key(std::string_view key);
  std::string body_ = "{";
};

// Builds one JSON array from raw JSON values: Array().AddRaw("1").Add("x").str() == [1,"x"]
class Array {
 public:
  Array& AddRaw(std::string_view raw) {
    if (body_.size() > 1) body_ += ',';
    body_ += raw;
    return *this;
  }
  Array& Add(std::string_view s) { return AddRaw(Quote(s)); }
  std::string str() const { return body_ + "]"; }

 private:
  std::string body_ = "[";
};

// Parses {"k": "v" | number | true | false | null, ...}; values are returned as text (strings
// unescaped). Nested objects/arrays are not supported. nullopt on malformed input.
std::optional<std::map<std::string, std::string>> ParseFlatObject(std::string_view text);

}  // namespace krpc::json
