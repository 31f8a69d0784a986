#include "interop_service.h"

#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <coroutine>
#include <memory>

namespace krpc::examples {
namespace {
namespace gt = ::grpc::testing;

// co_await Wait{io, d}: resumes on the timer thread after `d`.
struct Wait {
  boost::asio::io_context& io;
  std::chrono::microseconds d;
  std::shared_ptr<boost::asio::steady_timer> timer;
  bool await_ready() const noexcept { return d.count() <= 0; }
  void await_suspend(std::coroutine_handle<> h) {
    timer = std::make_shared<boost::asio::steady_timer>(io, d);
    timer->async_wait([h](const boost::system::error_code&) { h.resume(); });
  }
  void await_resume() const noexcept {}
};

// The metadata gRPC's interop clients ask to be echoed (custom_metadata).
void EchoMetadata(ServerController& ctx) {
  if (auto v = ctx.metadata("x-grpc-test-echo-initial"); !v.empty()) {
    ctx.SetResponseMetadata("x-grpc-test-echo-initial", std::string(v));
  }
  if (auto v = ctx.metadata("x-grpc-test-echo-trailing-bin"); !v.empty()) {
    ctx.SetTrailingMetadata("x-grpc-test-echo-trailing-bin", std::string(v));
  }
}

Status Asked(const gt::EchoStatus& s) {
  return Status(static_cast<StatusCode>(s.code()), s.message());
}

}  // namespace

InteropServiceImpl::InteropServiceImpl() : work_(timers_.get_executor()), thread_([this] { timers_.run(); }) {}

InteropServiceImpl::~InteropServiceImpl() {
  work_.reset();
  timers_.stop();
  thread_.join();
}

Task<Status> InteropServiceImpl::EmptyCall(ServerController& ctx, const gt::Empty&, gt::Empty&) {
  EchoMetadata(ctx);
  co_return Status::Ok();
}

Task<Status> InteropServiceImpl::UnaryCall(ServerController& ctx, const gt::SimpleRequest& request,
                                           gt::SimpleResponse& response) {
  EchoMetadata(ctx);
  if (request.has_response_status() && request.response_status().code() != 0) co_return Asked(request.response_status());
  if (request.response_size() < 0) co_return Status(StatusCode::kInvalidArgument, "negative response_size");
  response.mutable_payload()->mutable_body()->assign(static_cast<size_t>(request.response_size()), '\0');
  co_return Status::Ok();
}

Task<bool> InteropServiceImpl::Respond(const gt::StreamingOutputCallRequest& request,
                                       Writer<gt::StreamingOutputCallResponse>& out) {
  for (const auto& p : request.response_parameters()) {
    if (p.size() < 0) co_return false;
    co_await Wait{timers_, std::chrono::microseconds(p.interval_us())};
    gt::StreamingOutputCallResponse r;
    r.mutable_payload()->mutable_body()->assign(static_cast<size_t>(p.size()), '\0');
    const bool written = co_await out.Write(r);  // GCC 12: no co_await inside an if's condition
    if (!written) co_return false;
  }
  co_return true;
}

Task<Status> InteropServiceImpl::StreamingOutputCall(ServerController& ctx, const gt::StreamingOutputCallRequest& request,
                                                     Writer<gt::StreamingOutputCallResponse>& out) {
  EchoMetadata(ctx);
  const bool sent = co_await Respond(request, out);
  if (!sent) co_return Status(StatusCode::kCancelled, "the call ended");
  if (request.has_response_status() && request.response_status().code() != 0) co_return Asked(request.response_status());
  co_return Status::Ok();
}

Task<Status> InteropServiceImpl::StreamingInputCall(ServerController& ctx, Reader<gt::StreamingInputCallRequest>& in,
                                                    gt::StreamingInputCallResponse& response) {
  EchoMetadata(ctx);
  int64_t total = 0;
  while (auto m = co_await in.Read()) total += static_cast<int64_t>(m->payload().body().size());
  if (ctx.IsCanceled()) co_return Status(StatusCode::kCancelled, "the call ended");
  response.set_aggregated_payload_size(static_cast<int32_t>(total));
  co_return Status::Ok();
}

Task<Status> InteropServiceImpl::FullDuplexCall(ServerController& ctx, Reader<gt::StreamingOutputCallRequest>& in,
                                                Writer<gt::StreamingOutputCallResponse>& out) {
  EchoMetadata(ctx);
  while (auto m = co_await in.Read()) {
    if (m->has_response_status() && m->response_status().code() != 0) co_return Asked(m->response_status());
    const bool sent = co_await Respond(*m, out);
    if (!sent) co_return Status(StatusCode::kCancelled, "the call ended");
  }
  co_return Status::Ok();
}

Task<Status> InteropServiceImpl::HalfDuplexCall(ServerController& ctx, Reader<gt::StreamingOutputCallRequest>& in,
                                                Writer<gt::StreamingOutputCallResponse>& out) {
  EchoMetadata(ctx);
  std::vector<gt::StreamingOutputCallRequest> all;
  while (auto m = co_await in.Read()) all.push_back(std::move(*m));
  for (const auto& m : all) {
    const bool sent = co_await Respond(m, out);
    if (!sent) co_return Status(StatusCode::kCancelled, "the call ended");
  }
  co_return Status::Ok();
}

}  // namespace krpc::examples
