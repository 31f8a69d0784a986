#include "krpc/codec/frame.h"
#include "krpc/codec/frame_reader.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "examples/echo.pb.h"
#include "krpc/wire.pb.h"

namespace krpc::codec {
namespace {

std::vector<char> RequestFrame(uint64_t call_id, const std::string& payload) {
  wire::RequestHeader h;
  h.set_call_id(call_id);
  h.set_method("/krpc.examples.EchoService/Echo");
  h.set_timeout_us(1500);
  (*h.mutable_metadata())["user-id"] = "42";
  examples::EchoRequest body;
  body.set_payload(payload);
  std::vector<char> out;
  AppendFrame(out, FrameType::kRequest, h, &body);
  return out;
}

std::string_view View(const std::vector<char>& v) { return {v.data(), v.size()}; }

void ExpectRequest(const DecodeResult& r, uint64_t call_id, const std::string& payload) {
  ASSERT_EQ(r.status, DecodeStatus::kFrame);
  EXPECT_EQ(r.frame.prefix.type, FrameType::kRequest);
  wire::RequestHeader h;
  ASSERT_TRUE(h.ParseFromArray(r.frame.header.data(), static_cast<int>(r.frame.header.size())));
  EXPECT_EQ(h.call_id(), call_id);
  EXPECT_EQ(h.method(), "/krpc.examples.EchoService/Echo");
  EXPECT_EQ(h.timeout_us(), 1500u);
  EXPECT_EQ(h.metadata().at("user-id"), "42");
  examples::EchoRequest body;
  ASSERT_TRUE(body.ParseFromArray(r.frame.body.data(), static_cast<int>(r.frame.body.size())));
  EXPECT_EQ(body.payload(), payload);
}

TEST(FrameCodecTest, prefix_is_big_endian_with_magic_version_type_and_lengths) {
  std::vector<char> out;
  AppendRawFrame(out, FrameType::kPing, "hh", "bbb");
  ASSERT_EQ(out.size(), kPrefixSize + 5);
  EXPECT_EQ(std::string(out.data(), 4), "KRPC");
  EXPECT_EQ(out[4], 1);
  EXPECT_EQ(out[5], 3);
  EXPECT_EQ(std::string(out.data() + 8, 4), std::string("\0\0\0\5", 4));   // frame_len
  EXPECT_EQ(std::string(out.data() + 12, 4), std::string("\0\0\0\2", 4));  // header_len
}

TEST(FrameCodecTest, round_trips_every_frame_type) {
  for (uint8_t t = 1; t <= 6; ++t) {
    std::vector<char> out;
    wire::PingHeader h;
    h.set_nonce(t * 1000u);
    AppendFrame(out, static_cast<FrameType>(t), h, nullptr);
    auto r = DecodeFrame(View(out), {});
    ASSERT_EQ(r.status, DecodeStatus::kFrame) << int(t);
    EXPECT_EQ(static_cast<uint8_t>(r.frame.prefix.type), t);
    EXPECT_EQ(r.consumed, out.size());
    wire::PingHeader back;
    ASSERT_TRUE(back.ParseFromArray(r.frame.header.data(), int(r.frame.header.size())));
    EXPECT_EQ(back.nonce(), t * 1000u);
    EXPECT_TRUE(r.frame.body.empty());
  }
}

TEST(FrameCodecTest, decodes_a_frame_fed_one_byte_at_a_time) {
  const auto bytes = RequestFrame(7, std::string(3000, 'x'));
  FrameReader reader;
  for (size_t i = 0; i + 1 < bytes.size(); ++i) {
    reader.Feed({bytes.data() + i, 1});
    auto r = reader.Next();
    ASSERT_EQ(r.status, DecodeStatus::kNeedMore) << "at byte " << i;
  }
  reader.Feed({bytes.data() + bytes.size() - 1, 1});
  ExpectRequest(reader.Next(), 7, std::string(3000, 'x'));
  EXPECT_EQ(reader.buffered(), 0u);
}

TEST(FrameCodecTest, decodes_many_frames_from_one_buffer) {
  std::vector<char> all;
  for (uint64_t id = 1; id <= 100; ++id) {
    auto f = RequestFrame(id, std::string(id, 'a'));
    all.insert(all.end(), f.begin(), f.end());
  }
  FrameReader reader;
  reader.Feed(View(all));
  for (uint64_t id = 1; id <= 100; ++id) ExpectRequest(reader.Next(), id, std::string(id, 'a'));
  EXPECT_EQ(reader.Next().status, DecodeStatus::kNeedMore);
}

TEST(FrameCodecTest, frames_split_at_random_points_decode_in_order) {
  std::vector<char> all;
  for (uint64_t id = 1; id <= 50; ++id) {
    auto f = RequestFrame(id, std::string(id * 37, 'q'));
    all.insert(all.end(), f.begin(), f.end());
  }
  std::mt19937 rng(1234);
  FrameReader reader(Limits{});
  uint64_t next = 1;
  for (size_t at = 0; at < all.size();) {
    const size_t n = std::min<size_t>(all.size() - at, 1 + rng() % 700);
    reader.Feed({all.data() + at, n});
    at += n;
    for (auto r = reader.Next(); r.status == DecodeStatus::kFrame; r = reader.Next()) {
      ExpectRequest(r, next, std::string(next * 37, 'q'));
      ++next;
    }
  }
  EXPECT_EQ(next, 51u);
}

TEST(FrameCodecTest, truncated_frame_needs_more_and_reports_total_size) {
  const auto bytes = RequestFrame(1, "hello");
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    auto r = DecodeFrame({bytes.data(), cut}, {});
    ASSERT_EQ(r.status, DecodeStatus::kNeedMore) << cut;
    if (cut >= kPrefixSize) {
      EXPECT_EQ(r.needed, bytes.size());
    }
  }
}

TEST(FrameCodecTest, rejects_bad_magic_from_the_first_byte) {
  auto r = DecodeFrame("G", {});
  EXPECT_EQ(r.status, DecodeStatus::kError);
  EXPECT_EQ(r.error, DecodeError::kBadMagic);
  EXPECT_EQ(DecodeFrame("GET / HTTP/1.1\r\n\r\n", {}).error, DecodeError::kBadMagic);
}

TEST(FrameCodecTest, rejects_bad_version) {
  std::vector<char> out;
  AppendRawFrame(out, FrameType::kPing, "", "", /*version=*/9);
  EXPECT_EQ(DecodeFrame(View(out), {}).error, DecodeError::kBadVersion);
}

TEST(FrameCodecTest, rejects_unknown_type) {
  for (uint8_t t : {uint8_t{0}, uint8_t{10}, uint8_t{255}}) {
    std::vector<char> out;
    AppendRawFrame(out, FrameType::kPing, "", "");
    out[5] = static_cast<char>(t);
    EXPECT_EQ(DecodeFrame(View(out), {}).error, DecodeError::kBadType) << int(t);
  }
}

TEST(FrameCodecTest, rejects_lengths_over_the_limits_before_the_bytes_arrive) {
  std::vector<char> out;
  AppendRawFrame(out, FrameType::kRequest, "h", "");
  // Claim a 5 MiB body: only the 16-byte prefix is present, the decoder must not wait for it.
  const uint32_t frame_len = 1 + (5u << 20);
  out[8] = char(frame_len >> 24); out[9] = char(frame_len >> 16);
  out[10] = char(frame_len >> 8); out[11] = char(frame_len);
  auto r = DecodeFrame({out.data(), kPrefixSize}, {});
  EXPECT_EQ(r.error, DecodeError::kBodyTooLarge);
  EXPECT_EQ(r.prefix.body_len, 5u << 20);

  std::vector<char> big_header;
  AppendRawFrame(big_header, FrameType::kRequest, std::string(kMaxHeaderBytes + 1, 'h'), "");
  EXPECT_EQ(DecodeFrame(View(big_header), {}).error, DecodeError::kHeaderTooLarge);

  Limits small{.max_header_bytes = 100, .max_body_bytes = 10};
  std::vector<char> body11;
  AppendRawFrame(body11, FrameType::kRequest, "h", std::string(11, 'b'));
  EXPECT_EQ(DecodeFrame(View(body11), small).error, DecodeError::kBodyTooLarge);
  std::vector<char> body10;
  AppendRawFrame(body10, FrameType::kRequest, "h", std::string(10, 'b'));
  EXPECT_EQ(DecodeFrame(View(body10), small).status, DecodeStatus::kFrame);
}

TEST(FrameCodecTest, rejects_header_length_larger_than_the_frame) {
  std::vector<char> out;
  AppendRawFrame(out, FrameType::kRequest, "abcd", "");
  out[15] = 9;  // header_len 9 > frame_len 4
  EXPECT_EQ(DecodeFrame(View(out), {}).error, DecodeError::kHeaderExceedsFrame);
}

TEST(FrameCodecTest, random_garbage_never_crashes_and_never_asks_for_more_than_the_limit) {
  std::mt19937 rng(42);
  const Limits limits;
  int errors = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string junk(1 + rng() % 64, '\0');
    for (auto& c : junk) c = static_cast<char>(rng());
    if (i % 2 == 0) junk.replace(0, std::min<size_t>(4, junk.size()), "KRPC", std::min<size_t>(4, junk.size()));
    auto r = DecodeFrame(junk, limits);
    if (r.status == DecodeStatus::kError) ++errors;
    if (r.status == DecodeStatus::kNeedMore) {
      EXPECT_LE(r.needed, kPrefixSize + limits.max_header_bytes + limits.max_body_bytes);
    }
  }
  EXPECT_GT(errors, 10000);
}

TEST(FrameCodecTest, reader_grows_to_hold_one_large_frame_and_reuses_space) {
  const auto bytes = RequestFrame(3, std::string((4u << 20) - 64, 'z'));
  ASSERT_GT(bytes.size(), 4u << 19);
  FrameReader reader;
  size_t at = 0;
  DecodeResult r;
  while (at < bytes.size()) {
    size_t k = 0;
    ASSERT_EQ(reader.ReadSome([&](char* p, size_t n) {
                const size_t take = std::min(n, std::min<size_t>(bytes.size() - at, 65536));
                std::memcpy(p, bytes.data() + at, take);
                return take;
              }, &k),
              FrameReader::ReadStatus::kOk);
    at += k;
    r = reader.Next();
    if (at < bytes.size()) {
      ASSERT_EQ(r.status, DecodeStatus::kNeedMore);
      // Memory follows the bytes received, never the 4 MiB the prefix announced.
      ASSERT_TRUE(reader.EndBatch());
      ASSERT_LE(reader.capacity(), 2 * at + 64 * 1024) << "after " << at << " bytes";
    }
  }
  ExpectRequest(r, 3, std::string((4u << 20) - 64, 'z'));
  ASSERT_TRUE(reader.EndBatch());
  EXPECT_EQ(reader.capacity(), 0u) << "a consumed frame's buffer is given back";
}

// Regression: a 16-byte prefix declaring a 4 MiB body made a node reserve 4 MiB at once.
TEST(FrameCodecTest, memory_held_for_declared_not_received_bytes) {
  const auto bytes = RequestFrame(1, std::string((4u << 20) - 1024, 'd'));
  FrameReader reader;
  ASSERT_TRUE(reader.Feed({bytes.data(), kPrefixSize}));
  EXPECT_EQ(reader.Next().status, DecodeStatus::kNeedMore);
  ASSERT_TRUE(reader.EndBatch());
  EXPECT_LE(reader.capacity(), 8u * 1024) << "only the bytes received are held";
  ASSERT_TRUE(reader.partial_since().has_value()) << "a partial frame is pending";
}

// Regression: idle connections cost 65 KB each (a 64 KiB read buffer per connection).
TEST(FrameCodecTest, idle_connections_hold_no_read_buffer) {
  FrameReader reader;
  EXPECT_EQ(reader.capacity(), 0u);
  const auto bytes = RequestFrame(9, "ping");
  size_t n = 0;
  reader.ReadSome([&](char* p, size_t cap) {
    std::memcpy(p, bytes.data(), bytes.size());
    return bytes.size();
  }, &n);
  EXPECT_EQ(reader.Next().status, DecodeStatus::kFrame);
  EXPECT_EQ(reader.Next().status, DecodeStatus::kNeedMore);
  ASSERT_TRUE(reader.EndBatch());
  EXPECT_EQ(reader.capacity(), 0u) << "whole frames are decoded from the thread's scratch buffer";
  EXPECT_FALSE(reader.partial_since().has_value());
}

TEST(FrameCodecTest, partial_frames_are_charged_to_a_shared_budget) {
  auto budget = std::make_shared<MemoryBudget>(1u << 20);
  const auto bytes = RequestFrame(2, std::string(3u << 20, 'b'));
  {
    FrameReader a(Limits{}, budget);
    ASSERT_TRUE(a.Feed({bytes.data(), 512 * 1024}));
    EXPECT_GT(budget->used(), 0u);
    FrameReader b(Limits{}, budget);
    EXPECT_FALSE(b.Feed({bytes.data(), 900 * 1024})) << "together they would exceed the budget";
    EXPECT_LE(budget->used(), budget->limit());
  }
  EXPECT_EQ(budget->used(), 0u) << "readers give their memory back";
}

}  // namespace
}  // namespace krpc::codec
