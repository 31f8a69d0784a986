#include "echo_service.h"

#include <time.h>

#include "krpc/server_controller.h"

namespace krpc::examples {
namespace {
int64_t ThreadCpuNs() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

// Spins until this thread has used `us` microseconds of CPU (time descheduled does not count).
void BurnCpu(uint32_t us) {
  const int64_t until = ThreadCpuNs() + int64_t{us} * 1000;
  volatile uint64_t sink = 0;
  while (ThreadCpuNs() < until) {
    for (int i = 0; i < 200; ++i) sink = sink + static_cast<uint64_t>(i);
  }
}
}  // namespace

void EchoServiceImpl::Echo(google::protobuf::RpcController* controller, const EchoRequest* request,
                           EchoResponse* response, google::protobuf::Closure* done) {
  if (request->cpu_us() > 0) BurnCpu(request->cpu_us());
  response->set_payload(request->payload());
  // Request metadata under "x-echo-" comes back as response metadata (to see metadata both ways).
  auto* c = ServerController::From(controller);
  for (const auto& [key, value] : c->metadata()) {
    if (key.starts_with("x-echo-")) c->SetResponseMetadata(key, value);
  }
  done->Run();
}

}  // namespace krpc::examples
