#include "krpc/channel.h"

#include <future>

namespace krpc {

std::future<Status> CallFuture(Controller* controller,
                               const std::function<void(google::protobuf::Closure* done)>& invoke) {
  struct Done final : google::protobuf::Closure {
    Controller* controller;
    std::promise<Status> promise;
    void Run() override {
      promise.set_value(controller->status());
      delete this;
    }
  };
  auto* done = new Done;
  done->controller = controller;
  auto future = done->promise.get_future();
  invoke(done);
  return future;
}

}  // namespace krpc
