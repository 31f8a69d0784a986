#include "krpc/net/grpc_wire.h"

#include <gtest/gtest.h>
#include <zlib.h>

namespace krpc::net::grpc {
namespace {
using std::chrono::microseconds;

std::string Framed(std::string_view msg, bool compressed = false) {
  std::string out;
  AppendMessagePrefix(out, static_cast<uint32_t>(msg.size()));
  if (compressed) out[0] = 1;
  out.append(msg);
  return out;
}

std::string Gzip(std::string_view in) {
  z_stream z{};
  deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&z, in.size()) + 32, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

TEST(GrpcWireTest, one_message_round_trips_and_empty_messages_are_valid) {
  std::string scratch;
  std::string_view view;
  const std::string hello = Framed("hello"), empty = Framed("");  // `view` points into the body
  ASSERT_TRUE(ExtractUnaryMessage(hello, "", 100, &scratch, &view).ok());
  EXPECT_EQ(view, "hello");
  ASSERT_TRUE(ExtractUnaryMessage(empty, "", 100, &scratch, &view).ok());
  EXPECT_EQ(view, "");
}

TEST(GrpcWireTest, malformed_bodies_get_the_codes_grpc_uses) {
  std::string scratch;
  std::string_view view;
  EXPECT_EQ(ExtractUnaryMessage("", "", 100, &scratch, &view).code(), StatusCode::kInternal);
  EXPECT_EQ(ExtractUnaryMessage(std::string("\0\0\0", 3), "", 100, &scratch, &view).code(), StatusCode::kInternal);
  EXPECT_EQ(ExtractUnaryMessage(Framed("hello").substr(0, 7), "", 100, &scratch, &view).code(), StatusCode::kInternal);
  EXPECT_EQ(ExtractUnaryMessage(Framed("a") + Framed("b"), "", 100, &scratch, &view).code(),
            StatusCode::kUnimplemented);
  EXPECT_EQ(ExtractUnaryMessage(Framed(std::string(101, 'x')), "", 100, &scratch, &view).code(),
            StatusCode::kResourceExhausted);
  // A length prefix announcing 4 GiB is refused before anything is allocated for it.
  EXPECT_EQ(ExtractUnaryMessage(std::string("\0\xff\xff\xff\xff", 5), "", 100, &scratch, &view).code(),
            StatusCode::kResourceExhausted);
}

TEST(GrpcWireTest, gzip_messages_are_inflated_within_the_limit_and_other_encodings_are_unimplemented) {
  std::string scratch;
  std::string_view view;
  const std::string big(5000, 'z');
  const std::string zipped = Framed(Gzip(big), true);
  ASSERT_TRUE(ExtractUnaryMessage(zipped, "gzip", 10000, &scratch, &view).ok());
  EXPECT_EQ(view, big);
  // A small compressed message that inflates beyond the limit (a zip bomb) is refused.
  EXPECT_EQ(ExtractUnaryMessage(Framed(Gzip(big), true), "gzip", 1000, &scratch, &view).code(),
            StatusCode::kResourceExhausted);
  EXPECT_EQ(ExtractUnaryMessage(Framed("xx", true), "snappy", 100, &scratch, &view).code(),
            StatusCode::kUnimplemented);
  EXPECT_EQ(ExtractUnaryMessage(Framed("not gzip", true), "gzip", 100, &scratch, &view).code(),
            StatusCode::kInternal);
}

TEST(GrpcWireTest, timeouts_parse_every_unit_and_format_round_trips) {
  EXPECT_EQ(ParseTimeout("1H"), microseconds(3600'000'000ll));
  EXPECT_EQ(ParseTimeout("2M"), microseconds(120'000'000ll));
  EXPECT_EQ(ParseTimeout("3S"), microseconds(3'000'000));
  EXPECT_EQ(ParseTimeout("250m"), microseconds(250'000));
  EXPECT_EQ(ParseTimeout("7u"), microseconds(7));
  EXPECT_EQ(ParseTimeout("1500n"), microseconds(2));
  EXPECT_FALSE(ParseTimeout("S"));
  EXPECT_FALSE(ParseTimeout("123456789S"));  // more than 8 digits
  EXPECT_FALSE(ParseTimeout("12x"));
  EXPECT_FALSE(ParseTimeout("-1S"));
  for (auto t : {microseconds(0), microseconds(1), microseconds(99'999'999), microseconds(100'000'000),
                 microseconds(123'456'789'012ll)}) {
    const auto s = FormatTimeout(t);
    const auto back = ParseTimeout(s);
    ASSERT_TRUE(back) << s;
    EXPECT_GE(*back, t) << s;              // rounded up, never shortened
    EXPECT_LE(*back - t, t / 1000 + microseconds(1000)) << s;
  }
}

TEST(GrpcWireTest, messages_are_percent_encoded_and_binary_metadata_base64) {
  EXPECT_EQ(PercentEncode("ok 100%\n\xc3\xa9"), "ok 100%25%0A%C3%A9");
  EXPECT_EQ(PercentDecode("ok 100%25%0A%C3%A9"), "ok 100%\n\xc3\xa9");
  EXPECT_EQ(PercentDecode("bad %zz and %4"), "bad %zz and %4");
  for (std::string s : {std::string(""), std::string("a"), std::string("ab"), std::string("abc"),
                        std::string("\0\xff\x10\x80", 4)}) {
    auto back = Base64Decode(Base64Encode(s));
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, s);
  }
  EXPECT_EQ(Base64Decode("YWI"), "ab");  // padding is optional on receipt
  EXPECT_FALSE(Base64Decode("a$b="));
  EXPECT_TRUE(IsReservedHeader(":path"));
  EXPECT_TRUE(IsReservedHeader("grpc-timeout"));
  EXPECT_TRUE(IsReservedHeader("content-type"));
  EXPECT_FALSE(IsReservedHeader("x-user"));
  EXPECT_EQ(StatusFromHttp(503), StatusCode::kUnavailable);
  EXPECT_EQ(StatusFromHttp(404), StatusCode::kUnimplemented);
}

}  // namespace
}  // namespace krpc::net::grpc

namespace krpc::net::grpc {
namespace {

TEST(MessageCutterTest, cuts_messages_across_chunks_and_returns_the_window_as_the_rule_says) {
  MessageCutter c;
  std::vector<MessageCutter::Message> out;
  size_t now = 0;
  const std::string two = Framed("hello") + Framed("world!");
  // The first 7 bytes while the reader is idle: returned at once; no whole message yet.
  ASSERT_TRUE(c.Add(std::string_view(two).substr(0, 7), true, "", 100, &out, &now).ok());
  EXPECT_EQ(now, 7u);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(c.buffered(), 7u);
  // The rest while a message waits to be read: held, and given to the messages it completes.
  ASSERT_TRUE(c.Add(std::string_view(two).substr(7), false, "", 100, &out, &now).ok());
  EXPECT_EQ(now, 0u);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].payload, "hello");
  EXPECT_EQ(out[0].wire_bytes, 10u);
  EXPECT_EQ(out[0].window_bytes, 3u);  // its first 7 bytes went back already
  EXPECT_EQ(out[1].payload, "world!");
  EXPECT_EQ(out[1].window_bytes, 11u);
  EXPECT_EQ(c.buffered(), 0u);
  // Every received byte goes back exactly once: 7 at once + 3 + 11 when read = 21.
  EXPECT_EQ(7u + out[0].window_bytes + out[1].window_bytes, two.size());
}

TEST(MessageCutterTest, a_message_still_arriving_is_held_then_taken_when_the_reader_catches_up) {
  MessageCutter c;
  std::vector<MessageCutter::Message> out;
  size_t now = 0;
  const std::string big = Framed(std::string(50, 'x'));
  ASSERT_TRUE(c.Add(std::string_view(big).substr(0, 20), false, "", 100, &out, &now).ok());
  EXPECT_EQ(now, 0u);
  EXPECT_EQ(c.TakeHeld(), 20u);  // the reader caught up: these go back, the message can finish
  EXPECT_EQ(c.TakeHeld(), 0u);
  ASSERT_TRUE(c.Add(std::string_view(big).substr(20), true, "", 100, &out, &now).ok());
  EXPECT_EQ(now, 0u) << "whole now: its bytes go back when it is read";
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].window_bytes, big.size() - 20);
}

TEST(MessageCutterTest, bad_framing_and_oversize_messages_are_errors_after_the_whole_ones) {
  MessageCutter c;
  std::vector<MessageCutter::Message> out;
  size_t now = 0;
  std::string bad = Framed("ok");
  bad += std::string("\x07\x00\x00\x00\x01x", 6);  // flags 7: not a gRPC message
  EXPECT_EQ(c.Add(bad, true, "", 100, &out, &now).code(), StatusCode::kInternal);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].payload, "ok");
  MessageCutter d;
  out.clear();
  EXPECT_EQ(d.Add(Framed(std::string(200, 'y')).substr(0, 5), true, "", 100, &out, &now).code(),
            StatusCode::kResourceExhausted);  // known from the prefix alone
  EXPECT_EQ(d.Clear(), 0u);
}

}  // namespace
}  // namespace krpc::net::grpc
