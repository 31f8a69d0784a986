#include "user_service.h"

#include <mutex>

#include "krpc/server_controller.h"

namespace krpc::examples {
namespace {
void Fail(ResultCode* r, int code, std::string msg) {
  r->set_errcode(code);
  r->set_errmsg(std::move(msg));
}
}  // namespace

void UserServiceImpl::Register(google::protobuf::RpcController* controller, const RegisterRequest* request,
                               RegisterResponse* response, google::protobuf::Closure* done) {
  if (request->name().empty() || request->pwd().empty()) {
    ServerController::From(controller)->SetStatus(StatusCode::kInvalidArgument, "name and pwd are required");
    done->Run();
    return;
  }
  bool inserted = false;
  {
    std::unique_lock lock(mu_);
    inserted = users_.emplace(request->name(), User{request->id(), request->pwd()}).second;
  }
  response->set_success(inserted);
  if (!inserted) Fail(response->mutable_result(), 1, "user '" + request->name() + "' already exists");
  done->Run();
}

void UserServiceImpl::Login(google::protobuf::RpcController*, const LoginRequest* request, LoginResponse* response,
                            google::protobuf::Closure* done) {
  bool ok = false;
  {
    std::shared_lock lock(mu_);
    auto it = users_.find(request->name());
    ok = it != users_.end() && it->second.pwd == request->pwd();
  }
  response->set_success(ok);
  if (!ok) Fail(response->mutable_result(), 2, "wrong name or password");
  done->Run();
}

}  // namespace krpc::examples
