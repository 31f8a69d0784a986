// UserService: the seed projects' Login/Register, backed by an in-memory user table.
#pragma once

#include <shared_mutex>
#include <string>
#include <unordered_map>

#include "examples/user.pb.h"

namespace krpc::examples {

class UserServiceImpl final : public UserService {
 public:
  void Login(google::protobuf::RpcController* controller, const LoginRequest* request, LoginResponse* response,
             google::protobuf::Closure* done) override;
  void Register(google::protobuf::RpcController* controller, const RegisterRequest* request,
                RegisterResponse* response, google::protobuf::Closure* done) override;

 private:
  struct User {
    uint32_t id;
    std::string pwd;
  };
  std::shared_mutex mu_;
  std::unordered_map<std::string, User> users_;  // by name
};

}  // namespace krpc::examples
