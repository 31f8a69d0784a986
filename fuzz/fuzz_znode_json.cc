// libFuzzer target: the znode JSON reader (ProviderInfo::FromJson), fed what any process with
// write access to ZooKeeper could store. What it accepts must round-trip through ToJson().
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "krpc/registry_layout.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const krpc::Endpoint fallback{"10.0.0.1", 7000};
  const auto info = krpc::registry::ProviderInfo::FromJson(text, fallback);
  if (!info) return 0;
  const auto again = krpc::registry::ProviderInfo::FromJson(info->ToJson(), fallback);
  if (!again || !(*again == *info)) std::abort();
  return 0;
}
