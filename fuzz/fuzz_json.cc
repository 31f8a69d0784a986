// libFuzzer target: the JSON helper. Whatever ParseFlatObject accepts must survive a round
// trip through the writer (Object) unchanged.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "krpc/json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto parsed = krpc::json::ParseFlatObject(text);
  (void)krpc::json::Quote(text);
  if (!parsed) return 0;
  krpc::json::Object o;
  for (const auto& [k, v] : *parsed) o.Add(k, v);
  const auto again = krpc::json::ParseFlatObject(o.str());
  if (!again || *again != *parsed) std::abort();
  return 0;
}
