// greeter-client TARGET [NAME] [--generic | --chat]: calls Greeter.SayHello through TARGET
// ("host:port", "static://h1:p1,h2:p2" or "zk://zk1:2181/krpc") five times and prints the
// replies (--chat: one Greeter.Chat stream with five names instead). Exit code 0 when every
// call succeeded.
#include <cstdio>
#include <optional>
#include <string>

#include "greeter.krpc.h"
#include "greeter.pb.h"
#include "krpc/channel.h"

// The coroutine API: co_await a typed stub.
krpc::Task<int> Greet(std::shared_ptr<krpc::Channel> channel, std::string name) {
  greet::GreeterClient client(channel);
  int failed = 0;
  for (int i = 0; i < 5; ++i) {
    krpc::Controller ctx;
    ctx.set_timeout(std::chrono::seconds(2));
    greet::HelloRequest request;
    request.set_name(name);
    krpc::StatusOr<greet::HelloReply> reply = co_await client.SayHello(ctx, request);
    if (!reply.ok()) {
      std::printf("error: %s\n", reply.status().ToString().c_str());
      ++failed;
      continue;
    }
    std::printf("%s (from %s via %s)\n", reply->text().c_str(), reply->served_by().c_str(), ctx.remote().c_str());
  }
  co_return failed;
}

// A bidi stream: five names out, a greeting back for each, then the status.
krpc::Task<int> Chat(std::shared_ptr<krpc::Channel> channel, std::string name) {
  greet::GreeterClient client(channel);
  krpc::Controller ctx;  // outlives the stream
  auto chat = client.Chat(ctx);
  int answered = 0;
  for (int i = 0; i < 5; ++i) {
    greet::HelloRequest request;
    request.set_name(name + " #" + std::to_string(i + 1));
    const bool sent = co_await chat.Write(request);
    if (!sent) break;
    std::optional<greet::HelloReply> reply = co_await chat.Read();
    if (!reply) break;
    std::printf("%s (from %s)\n", reply->text().c_str(), reply->served_by().c_str());
    ++answered;
  }
  co_await chat.WritesDone();
  krpc::Status status = co_await chat.Finish();
  if (!status.ok()) std::printf("error: %s\n", status.ToString().c_str());
  co_return status.ok() && answered == 5 ? 0 : 1;
}

// The generic API: protobuf's Greeter_Stub over the same channel, blocking.
int GreetGeneric(krpc::Channel* channel, const std::string& name) {
  greet::Greeter_Stub stub(channel);
  int failed = 0;
  for (int i = 0; i < 5; ++i) {
    krpc::Controller cntl;
    greet::HelloRequest request;
    request.set_name(name);
    greet::HelloReply reply;
    stub.SayHello(&cntl, &request, &reply, nullptr);  // done == nullptr: blocks
    if (cntl.Failed()) {
      std::printf("error: %s\n", cntl.ErrorText().c_str());
      ++failed;
      continue;
    }
    std::printf("%s (from %s via %s)\n", reply.text().c_str(), reply.served_by().c_str(), cntl.remote().c_str());
  }
  return failed;
}

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: greeter-client TARGET [NAME] [--generic]\n");
    return 2;
  }
  const std::string name = argc > 2 && std::string(argv[2]).rfind("--", 0) != 0 ? argv[2] : "world";
  const bool generic = std::string(argv[argc - 1]) == "--generic";
  const bool chat = std::string(argv[argc - 1]) == "--chat";
  auto channel = krpc::Channel::Create(argv[1], {});
  if (!channel.ok()) {
    std::fprintf(stderr, "greeter-client: %s\n", channel.status().ToString().c_str());
    return 2;
  }
  if (chat) return krpc::SyncWait(Chat(channel.value(), name));
  const int failed = generic ? GreetGeneric(channel->get(), name) : krpc::SyncWait(Greet(channel.value(), name));
  return failed == 0 ? 0 : 1;
}
