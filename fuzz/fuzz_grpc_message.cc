// libFuzzer target: the gRPC wire helpers a node runs on untrusted bytes (net/grpc_wire.h):
// the unary message extractor (prefix, length, gzip inflation within the limit), grpc-timeout
// parsing, grpc-message percent-decoding and binary-metadata base64. The first input byte picks
// the function; the rest is its input.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "krpc/net/grpc_wire.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace grpc = krpc::net::grpc;
  if (size == 0) return 0;
  const std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
  switch (data[0] % 4) {
    case 0: {
      std::string scratch;
      std::string_view message;
      const auto st = grpc::ExtractUnaryMessage(in, (data[0] & 4) ? "gzip" : "identity", 4096, &scratch, &message);
      if (st.ok() && message.size() > 4096) std::abort();  // the limit holds, inflated or not
      break;
    }
    case 1: {
      const auto t = grpc::ParseTimeout(in);
      if (t && t->count() < 0) std::abort();
      break;
    }
    case 2: {
      const std::string decoded = grpc::PercentDecode(in);
      if (decoded.size() > in.size()) std::abort();
      if (grpc::PercentDecode(grpc::PercentEncode(in)) != in) std::abort();  // round trip
      break;
    }
    case 3: {
      if (auto bytes = grpc::Base64Decode(in)) {
        if (grpc::Base64Decode(grpc::Base64Encode(*bytes)) != *bytes) std::abort();
      }
      break;
    }
  }
  return 0;
}
