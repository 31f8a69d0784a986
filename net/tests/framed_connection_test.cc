// FramedConnection over a real loopback TCP pair, with the peer's side driven byte by byte:
// short reads, a reset, bytes that are not a frame, a frame larger than the memory budget
// allows, and a reader that stalls the writer. Every wait is on a condition, bounded only as a
// guard against a hang.
#include <gtest/gtest.h>

#include <sys/socket.h>

#include <memory>
#include <string>
#include <vector>

#include "krpc/codec/frame.h"
#include "krpc/codec/frame_reader.h"
#include "krpc/net/framed_connection.h"
#include "krpc/wire.pb.h"
#include "loopback_pair.h"

namespace krpc::net {
namespace {
using codec::FrameType;
using testing::LoopbackPair;

class TestConnection final : public FramedConnection {
 public:
  TestConnection(Stream s, std::shared_ptr<codec::MemoryBudget> budget = nullptr)
      : FramedConnection(std::move(s), codec::Limits{}, std::move(budget)) {}
  void Start() { StartReading(); }
  void Send(FrameType type, std::string body) {
    wire::RequestHeader h;
    h.set_call_id(1);
    codec::AppendRawFrame(out(), type, h.SerializeAsString(), body);
    Flush();
  }
  bool idle() const { return output_idle(); }

  std::vector<std::string> bodies;
  std::string decode_error;
  boost::system::error_code read_error;
  bool over_budget = false;
  int drained = 0;

 private:
  bool OwningThread() const override { return true; }
  bool Reading() const override { return reading_; }
  bool CanWrite() const override { return true; }
  bool OnFrame(const codec::FrameView& f) override {
    bodies.emplace_back(f.body);
    return true;
  }
  void OnDecodeError(const codec::DecodeResult& r) override {
    decode_error = codec::ToString(r.error);
    reading_ = false;
  }
  void OnProtocolError(std::string_view, std::string) override { reading_ = false; }
  void OnReadFailed(const boost::system::error_code& ec) override {
    read_error = ec;
    reading_ = false;
  }
  void OnOverBudget() override {
    over_budget = true;
    reading_ = false;
  }
  void OnWriteFailed(const boost::system::error_code&) override {}
  void OnOutputDrained() override { ++drained; }
  bool reading_ = true;
};

std::string Frame(FrameType type, const std::string& body) {
  wire::RequestHeader h;
  h.set_call_id(7);
  std::vector<char> out;
  codec::AppendRawFrame(out, type, h.SerializeAsString(), body);
  return {out.begin(), out.end()};
}

TEST(FramedConnectionTest, a_frame_that_arrives_one_byte_at_a_time_is_delivered_once_and_whole) {
  LoopbackPair pair;
  auto conn = std::make_shared<TestConnection>(Stream(std::move(pair.ours)));
  conn->Start();
  const std::string wire = Frame(FrameType::kRequest, "hello, short reads");
  for (size_t i = 0; i < wire.size(); ++i) {
    pair.WritePeer(wire.substr(i, 1));
    pair.io.poll();  // each byte is its own read
    EXPECT_TRUE(conn->decode_error.empty()) << "byte " << i;
    if (i + 1 < wire.size()) {
      EXPECT_TRUE(conn->bodies.empty()) << "nothing before the last byte";
    }
  }
  ASSERT_TRUE(pair.RunUntil([&] { return !conn->bodies.empty(); }));
  ASSERT_EQ(conn->bodies.size(), 1u);
  EXPECT_EQ(conn->bodies[0], "hello, short reads");
}

TEST(FramedConnectionTest, a_ping_is_answered_with_a_pong_carrying_its_nonce_and_not_passed_on) {
  LoopbackPair pair;
  auto conn = std::make_shared<TestConnection>(Stream(std::move(pair.ours)));
  conn->Start();
  wire::PingHeader ping;
  ping.set_nonce(0x1234abcd);
  std::vector<char> out;
  codec::AppendFrame(out, FrameType::kPing, ping, nullptr);
  pair.WritePeer({out.begin(), out.end()});
  std::string got;
  ASSERT_TRUE(pair.RunUntil([&] {
    got += pair.ReadPeerNow();
    return got.size() >= codec::kPrefixSize && codec::DecodeFrame(got, {}).status == codec::DecodeStatus::kFrame;
  }));
  const auto r = codec::DecodeFrame(got, {});
  EXPECT_EQ(r.frame.prefix.type, FrameType::kPong);
  wire::PingHeader pong;
  ASSERT_TRUE(pong.ParseFromArray(r.frame.header.data(), static_cast<int>(r.frame.header.size())));
  EXPECT_EQ(pong.nonce(), 0x1234abcdu);
  EXPECT_TRUE(conn->bodies.empty());
}

TEST(FramedConnectionTest, a_reset_from_the_peer_fails_the_read_with_the_reset) {
  LoopbackPair pair;
  auto conn = std::make_shared<TestConnection>(Stream(std::move(pair.ours)));
  conn->Start();
  pair.ResetPeer();
  ASSERT_TRUE(pair.RunUntil([&] { return conn->read_error.failed(); }));
  EXPECT_EQ(conn->read_error, boost::asio::error::connection_reset) << conn->read_error.message();
}

TEST(FramedConnectionTest, bytes_that_are_not_a_frame_are_a_decode_error_named_by_its_reason) {
  LoopbackPair pair;
  auto conn = std::make_shared<TestConnection>(Stream(std::move(pair.ours)));
  conn->Start();
  pair.WritePeer("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_TRUE(pair.RunUntil([&] { return !conn->decode_error.empty(); }));
  EXPECT_EQ(conn->decode_error, "bad_magic");
  EXPECT_TRUE(conn->bodies.empty());
}

TEST(FramedConnectionTest, a_partial_frame_beyond_the_memory_budget_is_refused_not_buffered) {
  LoopbackPair pair;
  auto budget = std::make_shared<codec::MemoryBudget>(4096);
  auto conn = std::make_shared<TestConnection>(Stream(std::move(pair.ours)), budget);
  conn->Start();
  std::string wire = Frame(FrameType::kRequest, std::string(1 << 20, 'x'));
  wire.resize(64 * 1024);  // a frame announcing 1 MiB, of which 64 KiB arrive
  pair.WritePeer(wire);
  ASSERT_TRUE(pair.RunUntil([&] { return conn->over_budget; }));
  EXPECT_LE(budget->used(), budget->limit());
}

TEST(FramedConnectionTest, a_reader_that_stalls_holds_the_writer_until_it_reads_then_everything_arrives) {
  LoopbackPair pair;
  pair.ShrinkBuffers();
  auto conn = std::make_shared<TestConnection>(Stream(std::move(pair.ours)));
  conn->Start();
  const std::string body(256 * 1024, 'b');
  size_t expected = 0;
  for (int i = 0; i < 16; ++i) {
    conn->Send(FrameType::kResponse, body);
    expected += Frame(FrameType::kResponse, body).size();
    pair.io.poll();
  }
  EXPECT_FALSE(conn->idle()) << "4 MiB cannot fit in the shrunk socket buffers while the peer reads nothing";
  EXPECT_EQ(conn->drained, 0);
  size_t got = 0;
  ASSERT_TRUE(pair.RunUntil([&] {
    got += pair.ReadPeerNow().size();
    return conn->drained > 0 && got == expected;
  }));
  EXPECT_TRUE(conn->idle());
}

}  // namespace
}  // namespace krpc::net
