// Where a client's connections live: channels created one after another spread over the
// runtime's I/O threads, whatever timers a channel makes along the way. (A channel used to
// create a sweep timer and a subchannel from one round-robin counter, so with two threads
// every channel's connection landed on the first: a client of many channels ran on one core.)
#include <gtest/gtest.h>

#include <future>
#include <set>
#include <thread>

#include "krpc/channel.h"
#include "krpc/client_runtime.h"
#include "test_nodes.h"

namespace krpc {
namespace {
using testing::TestNode;

// The thread an asynchronous call completes on: the I/O thread of the connection it used.
std::thread::id CompletionThread(Channel* ch) {
  examples::EchoService_Stub stub(ch);
  Controller cntl;
  examples::EchoRequest req;
  examples::EchoResponse resp;
  req.set_payload("p");
  std::promise<std::thread::id> done;
  stub.Echo(&cntl, &req, &resp, google::protobuf::NewCallback(+[](std::promise<std::thread::id>* p) {
              p->set_value(std::this_thread::get_id());
            }, &done));
  auto id = done.get_future().get();
  EXPECT_FALSE(cntl.Failed()) << cntl.ErrorText();
  return id;
}

TEST(PlacementTest, channels_created_in_a_row_spread_their_connections_over_the_io_threads) {
  TestNode node;
  node.Start();
  auto runtime = ClientRuntime::Create(2);
  ChannelOptions o;
  o.pool.enabled = false;
  std::vector<std::shared_ptr<Channel>> channels;
  std::set<std::thread::id> threads;
  for (int i = 0; i < 4; ++i) {
    auto ch = Channel::Create("static://" + node.address(), o, runtime);
    ASSERT_TRUE(ch.ok()) << ch.status();
    channels.push_back(ch.value());
    threads.insert(CompletionThread(channels.back().get()));
  }
  EXPECT_EQ(threads.size(), 2u) << "four channels' connections should use both I/O threads";
  for (auto& ch : channels) ch->Shutdown();
}

}  // namespace
}  // namespace krpc
