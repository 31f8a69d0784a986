// ZkClient against a real ZooKeeper server.
#include "krpc/zk_client.h"

#include "krpc/impl/zk_ensemble.h"

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

TEST(ZkEnsembleTest, resolves_names_to_sorted_addresses_and_names_what_did_not_resolve) {
  ResolvedEnsemble r = ResolveEnsemble("127.0.0.1:3,no-such-host.invalid:2181,localhost:2");
  EXPECT_EQ(r.hosts, "127.0.0.1:2,127.0.0.1:3");
  ASSERT_EQ(r.unresolved.size(), 1u);
  EXPECT_NE(r.unresolved[0].find("no-such-host.invalid:2181"), std::string::npos) << r.unresolved[0];
  r = ResolveEnsemble("no-such-host.invalid:2181");
  EXPECT_TRUE(r.hosts.empty());
  EXPECT_EQ(r.unresolved.size(), 1u);
}

TEST(ZkEnsembleTest, options_need_one_server_that_resolves) {
  ZkOptions all_bad{"no-such-host.invalid:2181,also-not.invalid:2181", 4000, ""};
  Status s = all_bad.Validate();
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("'zk_hosts'"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("also-not.invalid"), std::string::npos) << s.message();
  ZkOptions one_lost{"no-such-host.invalid:2181,127.0.0.1:2181", 4000, ""};
  EXPECT_TRUE(one_lost.Validate().ok()) << "a stopped ensemble member must not stop start-up";
}

TEST_F(ZkClientTest, connects_while_one_ensemble_member_does_not_resolve) {
  // The ZooKeeper C client alone never connects with such a list (it fails resolving it).
  ZkClient c({"no-such-host.invalid:2181," + zk_.hosts(), 4000, ""});
  ASSERT_TRUE(c.Start().ok());
  ASSERT_TRUE(c.WaitConnected(10s));
  ASSERT_TRUE(c.EnsurePath("/krpc/ensemble").ok());
  bool exists = false;
  ASSERT_TRUE(c.Exists("/krpc/ensemble", false, &exists).ok());
  EXPECT_TRUE(exists);
}

}  // namespace
}  // namespace krpc
