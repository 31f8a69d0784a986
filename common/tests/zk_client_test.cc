// ZkClient against a real ZooKeeper server.
#include "krpc/zk_client.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "eventually.h"
#include "zk_server.h"

namespace krpc {
namespace {
using namespace std::chrono_literals;

using testing::Eventually;

class ZkClientTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(zk_.Start()) << "ZooKeeper did not start (is the zookeeper package installed?)"; }
  testing::ZkServer zk_;
};

TEST_F(ZkClientTest, creates_reads_and_watches_nodes) {
  ZkClient c({zk_.hosts(), 4000, ""});
  ASSERT_TRUE(c.Start().ok());
  ASSERT_TRUE(c.WaitConnected(10s));
  ASSERT_TRUE(c.EnsurePath("/krpc/services/a.B/providers").ok());
  ASSERT_TRUE(c.EnsurePath("/krpc/services/a.B/providers").ok()) << "idempotent";
  std::atomic<int> fired{0};
  c.WatchPath("/krpc/services/a.B/providers", [&] { fired++; });
  std::vector<std::string> kids;
  ASSERT_TRUE(c.GetChildren("/krpc/services/a.B/providers", true, &kids).ok());
  EXPECT_TRUE(kids.empty());
  ASSERT_TRUE(c.Create("/krpc/services/a.B/providers/h:1", "{}", true).ok());
  EXPECT_TRUE(Eventually([&] { return fired.load() == 1; }));
  std::string data;
  int64_t owner = 0;
  ASSERT_TRUE(c.Get("/krpc/services/a.B/providers/h:1", false, &data, &owner).ok());
  EXPECT_EQ(data, "{}");
  EXPECT_EQ(owner, c.session_id());
  EXPECT_EQ(c.Create("/krpc/services/a.B/providers/h:1", "", true).code(), StatusCode::kAlreadyExists);
}

TEST_F(ZkClientTest, expired_session_is_replaced_by_a_new_one) {
  ZkClient c({zk_.hosts(), 4000, ""});
  std::atomic<int> fresh{0}, expired{0};
  c.AddSessionListener([&](ZkClient::SessionEvent e) {
    if (e == ZkClient::SessionEvent::kNewSession) fresh++;
    if (e == ZkClient::SessionEvent::kExpired) expired++;
  });
  ASSERT_TRUE(c.Start().ok());
  ASSERT_TRUE(c.WaitConnected(10s));
  const int64_t first = c.session_id();
  ASSERT_TRUE(testing::ZkServer::ExpireUntilReplaced(zk_.hosts(), [&] { return c.session_id(); }, c.session_password()));
  EXPECT_TRUE(Eventually([&] { return expired.load() >= 1 && fresh.load() >= 2 && c.connected(); }));
  EXPECT_NE(c.session_id(), first);
  EXPECT_GE(c.expirations(), 1u);
  EXPECT_EQ(static_cast<uint64_t>(fresh.load()), c.sessions_started());
}

TEST_F(ZkClientTest, survives_a_zookeeper_restart_within_the_session_timeout) {
  ZkClient c({zk_.hosts(), 8000, ""});
  std::atomic<int> reconnected{0};
  c.AddSessionListener([&](ZkClient::SessionEvent e) {
    if (e == ZkClient::SessionEvent::kReconnected) reconnected++;
  });
  ASSERT_TRUE(c.Start().ok());
  ASSERT_TRUE(c.WaitConnected(10s));
  const int64_t session = c.session_id();
  zk_.Stop();
  EXPECT_TRUE(Eventually([&] { return !c.connected(); }, 5s));
  ASSERT_TRUE(zk_.Start());
  EXPECT_TRUE(Eventually([&] { return c.connected(); }));
  EXPECT_EQ(c.session_id(), session) << "same session after a short outage";
  EXPECT_EQ(reconnected.load(), 1);
}

}  // namespace
}  // namespace krpc
