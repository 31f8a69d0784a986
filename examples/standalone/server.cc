// greeter-server: the Greeter service as a krpc node. Every krpc-node key works
// (--port, --admin_port, --zk_hosts, ...; --help lists them), SIGTERM drains.
#include <unistd.h>

#include "greeter.krpc.h"
#include "krpc/node_runner.h"

class GreeterImpl final : public greet::GreeterBase {
 public:
  krpc::Task<krpc::Status> SayHello(krpc::ServerController& ctx, const greet::HelloRequest& request,
                                    greet::HelloReply& reply) override {
    if (request.name().empty()) co_return krpc::Status(krpc::StatusCode::kInvalidArgument, "name is empty");
    reply.set_text("hello, " + request.name());
    reply.set_served_by(host_);
    co_return krpc::Status::Ok();
  }

  // A stream: read the names as they come, answer each. (GCC 12: keep co_await out of an if's
  // condition; assign first.)
  krpc::Task<krpc::Status> Chat(krpc::ServerController& ctx, krpc::Reader<greet::HelloRequest>& names,
                                krpc::Writer<greet::HelloReply>& replies) override {
    while (std::optional<greet::HelloRequest> name = co_await names.Read()) {
      greet::HelloReply reply;
      reply.set_text("hello, " + name->name());
      reply.set_served_by(host_);
      const bool sent = co_await replies.Write(reply);
      if (!sent) break;  // the client went away
    }
    co_return krpc::Status::Ok();
  }

 private:
  std::string host_ = [] {
    char name[256] = {};
    ::gethostname(name, sizeof name - 1);
    return std::string(name);
  }();
};

int main(int argc, char** argv) {
  krpc::NodeRunner node("greeter-server");
  node.AddService(std::make_shared<GreeterImpl>());
  return node.Run(argc, argv);
}
