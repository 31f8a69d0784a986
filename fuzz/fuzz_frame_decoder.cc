// libFuzzer target: the frame decoder on a byte stream. The input is cut into chunks (sizes
// taken from the input itself) and fed to a FrameReader the way socket reads would be, with
// a small memory budget; every decoded frame must lie inside what was fed, and the reader's
// memory must stay within the budget and be given back at the end.
#include <algorithm>
#include <cstddef>
#include <cstring>
#include <memory>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "krpc/codec/frame.h"
#include "krpc/codec/frame_reader.h"

namespace {
void Check(bool ok) {
  if (!ok) std::abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace krpc::codec;
  auto budget = std::make_shared<MemoryBudget>(256 * 1024);
  {
    FrameReader reader(Limits{kMaxHeaderBytes, 128 * 1024}, budget);
    std::string_view in(reinterpret_cast<const char*>(data), size);
    size_t cut = size > 0 ? data[0] % 64 + 1 : 1;
    while (!in.empty()) {
      const size_t n = std::min(cut, in.size());
      size_t got = 0;
      if (reader.ReadSome([&](char* p, size_t cap) {
            const size_t k = std::min(cap, n);
            std::memcpy(p, in.data(), k);
            return k;
          }, &got) != FrameReader::ReadStatus::kOk) {
        break;  // over budget: a server closes the connection here
      }
      in.remove_prefix(got);
      cut = cut * 7 % 509 + 1;
      bool error = false;
      for (;;) {
        const DecodeResult r = reader.Next();
        if (r.status == DecodeStatus::kNeedMore) break;
        if (r.status == DecodeStatus::kError) {
          error = true;
          break;
        }
        Check(r.frame.header.size() == r.frame.prefix.header_len);
        Check(r.frame.body.size() == r.frame.prefix.body_len);
        Check(r.frame.body.size() <= 128 * 1024);
      }
      if (!reader.EndBatch() || error) break;
      Check(budget->used() <= budget->limit());
    }
  }
  Check(budget->used() == 0);
  return 0;
}
