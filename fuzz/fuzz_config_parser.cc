// libFuzzer target: the configuration parser, as a file (LoadText) and as command-line flags
// (the input split at NUL bytes into argv). Bad input must come back as a Status, never crash.
#include <cstdint>
#include <string>
#include <vector>

#include "krpc/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  struct Fields {
    std::string s = "x";
    bool b = false;
    int i = 5;
    int64_t l = 7;
    uint32_t u = 9;
    uint16_t port = 0;
    double d = 0.5;
    std::string choice = "text";
  } f;
  krpc::OptionSet o;
  o.AddString("name", &f.s, "");
  o.AddBool("flag", &f.b, "");
  o.AddInt("count", &f.i, -10, 1000, "");
  o.AddInt("big", &f.l, 0, int64_t{1} << 40, "");
  o.AddUint("bytes", &f.u, 1024, 1u << 26, "");
  o.AddPort("port", &f.port, "");
  o.AddDouble("ratio", &f.d, 0.0, 1.0, "");
  o.AddChoice("format", &f.choice, {"text", "json"}, "");
  const std::string text(reinterpret_cast<const char*>(data), size);
  (void)o.LoadText(text, "fuzz");
  std::vector<std::string> args{"prog"};
  for (size_t at = 0; at <= text.size();) {
    const size_t nul = text.find('\0', at);
    args.push_back(text.substr(at, nul == std::string::npos ? std::string::npos : nul - at));
    if (nul == std::string::npos) break;
    at = nul + 1;
  }
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  std::vector<std::string> positional;
  (void)o.LoadFlags(static_cast<int>(argv.size()), argv.data(), &positional);
  (void)o.Values();
  return 0;
}
