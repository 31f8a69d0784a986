// krpc-example-client: registers and logs in a user through UserService, then echoes a payload.
//   krpc-example-client --target static://127.0.0.1:7000
#include <cstdio>

#include "examples/echo.pb.h"
#include "examples/user.pb.h"
#include "krpc/channel.h"
#include "krpc/config.h"

int main(int argc, char** argv) {
  std::string target = "127.0.0.1:7000";
  std::string name = "zhangsan";
  std::string pwd = "123456";
  krpc::OptionSet flags;
  flags.AddString("target", &target, "where the node listens");
  flags.AddString("name", &name, "user name");
  flags.AddString("pwd", &pwd, "password");
  if (auto s = flags.Load(argc, argv, {}); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.message().c_str());
    return 2;
  }
  auto channel = krpc::Channel::Create(target, {});
  if (!channel.ok()) {
    std::fprintf(stderr, "%s\n", channel.status().ToString().c_str());
    return 2;
  }
  krpc::examples::UserService_Stub users(channel->get());
  krpc::Controller cntl;
  krpc::examples::RegisterRequest reg;
  reg.set_id(1);
  reg.set_name(name);
  reg.set_pwd(pwd);
  krpc::examples::RegisterResponse reg_resp;
  users.Register(&cntl, &reg, &reg_resp, nullptr);  // blocking
  if (cntl.Failed()) {
    std::fprintf(stderr, "Register failed: %s\n", cntl.ErrorText().c_str());
    return 1;
  }
  std::printf("register: success=%d %s\n", reg_resp.success(), reg_resp.result().errmsg().c_str());

  cntl.Reset();
  krpc::examples::LoginRequest login;
  login.set_name(name);
  login.set_pwd(pwd);
  krpc::examples::LoginResponse login_resp;
  auto done = krpc::CallFuture(&cntl, [&](google::protobuf::Closure* d) { users.Login(&cntl, &login, &login_resp, d); });
  const krpc::Status s = done.get();  // future-style
  if (!s.ok()) {
    std::fprintf(stderr, "Login failed: %s\n", s.ToString().c_str());
    return 1;
  }
  std::printf("login: success=%d (answered by %s in %lld us)\n", login_resp.success(), cntl.remote().c_str(),
              static_cast<long long>(cntl.latency().count()));
  return login_resp.success() ? 0 : 1;
}
