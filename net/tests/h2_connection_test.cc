// H2Connection (nghttp2 over the Stream seam) with a client and a server of our own over a
// real loopback TCP pair, and a peer that sends bytes that are not HTTP/2: a request with a
// body in small pieces, trailers, a stream the client resets, a PING, and a broken preface.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>

#include "krpc/net/h2_connection.h"
#include "loopback_pair.h"

namespace krpc::net {
namespace {
using testing::LoopbackPair;

// Records what arrives on each stream; a server answers each request it sees end.
class TestH2 final : public H2Connection {
 public:
  using H2Connection::Role;
  TestH2(Stream s, Role role) : H2Connection(std::move(s), role, H2Settings{}) {}
  void Begin() { Start(); }
  int32_t Request(std::string body) {
    const int32_t id = SubmitRequest({{":method", "POST"}, {":scheme", "http"}, {":path", "/echo"},
                                      {":authority", "test"}, {"content-type", "application/grpc"}},
                                     std::move(body));
    Flush();
    return id;
  }
  void Reset(int32_t id) {
    ResetStream(id, h2_error::kCancel);
    Flush();
  }
  void Ping() {
    SubmitPing();
    Flush();
  }

  bool answer = true;  // server: respond when a request ends
  std::map<int32_t, std::map<std::string, std::string>> headers;
  std::map<int32_t, std::string> data;
  std::map<int32_t, uint32_t> closed;  // stream -> error code
  std::string session_error;
  bool read_failed = false;

 private:
  bool OwningThread() const override { return true; }
  bool Reading() const override { return session_error.empty() && !read_failed; }
  void OnBeginHeaders(int32_t) override {}
  bool OnHeader(int32_t id, std::string_view name, std::string_view value) override {
    headers[id][std::string(name)] = value;
    return true;
  }
  bool OnData(int32_t id, std::string_view bytes) override {
    data[id].append(bytes);
    return true;
  }
  void OnStreamEnd(int32_t id) override {
    if (!answer) return;
    SubmitResponse(id, {{":status", "200"}, {"content-type", "application/grpc"}}, "echo:" + data[id],
                   {{"grpc-status", "0"}});
    Flush();
  }
  void OnStreamClosed(int32_t id, uint32_t code) override { closed[id] = code; }
  void OnSessionError(std::string detail) override { session_error = std::move(detail); }
  void OnReadFailed(const boost::system::error_code&) override { read_failed = true; }
  void OnWriteFailed(const boost::system::error_code&) override { read_failed = true; }
};

struct Pair {
  LoopbackPair sockets;
  std::shared_ptr<TestH2> server = std::make_shared<TestH2>(Stream(std::move(sockets.ours)), TestH2::Role::kServer);
  std::shared_ptr<TestH2> client = std::make_shared<TestH2>(Stream(std::move(sockets.peer)), TestH2::Role::kClient);
  Pair() {
    server->Begin();
    client->Begin();
  }
};

TEST(H2ConnectionTest, a_request_gets_its_response_body_and_trailers) {
  Pair p;
  const int32_t id = p.client->Request(std::string(100000, 'q'));  // several DATA frames
  ASSERT_GT(id, 0);
  ASSERT_TRUE(p.sockets.RunUntil([&] { return p.client->closed.count(id) > 0; }));
  EXPECT_EQ(p.client->closed[id], h2_error::kNoError);
  EXPECT_EQ(p.client->headers[id][":status"], "200");
  EXPECT_EQ(p.client->headers[id]["grpc-status"], "0") << "trailers arrive after the body";
  EXPECT_EQ(p.client->data[id], "echo:" + std::string(100000, 'q'));
  EXPECT_EQ(p.server->data[id].size(), 100000u);
}

TEST(H2ConnectionTest, a_stream_the_client_resets_closes_on_the_server_with_cancel) {
  Pair p;
  p.server->answer = false;
  const int32_t id = p.client->Request("never answered");
  ASSERT_TRUE(p.sockets.RunUntil([&] { return p.server->data.count(id) > 0; }));
  p.client->Reset(id);
  ASSERT_TRUE(p.sockets.RunUntil([&] { return p.server->closed.count(id) > 0; }));
  EXPECT_EQ(p.server->closed[id], h2_error::kCancel);
  EXPECT_TRUE(p.server->session_error.empty()) << "one stream's reset leaves the connection alone";
}

TEST(H2ConnectionTest, many_streams_interleave_on_one_connection) {
  Pair p;
  std::map<int32_t, std::string> sent;
  for (int i = 0; i < 50; ++i) sent[p.client->Request("m" + std::to_string(i))] = "m" + std::to_string(i);
  ASSERT_TRUE(p.sockets.RunUntil([&] { return p.client->closed.size() == sent.size(); }));
  for (const auto& [id, body] : sent) EXPECT_EQ(p.client->data[id], "echo:" + body) << id;
}

TEST(H2ConnectionTest, bytes_that_are_not_the_http2_preface_end_the_session_with_a_reason) {
  LoopbackPair sockets;
  auto server = std::make_shared<TestH2>(Stream(std::move(sockets.ours)), TestH2::Role::kServer);
  server->Begin();
  sockets.WritePeer("PRI * HTTP/1.1\r\n\r\nnot http/2 at all, but long enough to be read as a preface\r\n\r\n");
  ASSERT_TRUE(sockets.RunUntil([&] { return !server->session_error.empty() || server->read_failed; }));
  EXPECT_TRUE(server->data.empty());
}

TEST(H2ConnectionTest, a_peer_that_resets_the_connection_fails_the_read) {
  LoopbackPair sockets;
  auto server = std::make_shared<TestH2>(Stream(std::move(sockets.ours)), TestH2::Role::kServer);
  server->Begin();
  sockets.ResetPeer();
  ASSERT_TRUE(sockets.RunUntil([&] { return server->read_failed; }));
}

}  // namespace
}  // namespace krpc::net
