#include "krpc/channel.h"

#include <algorithm>

#include <boost/asio/post.hpp>

#include "channel_impl.h"
#include "krpc/config.h"
#include "krpc/impl/io_pool.h"

namespace krpc {

void ChannelOptions::Register(OptionSet& o) {
  o.AddInt("rpc_timeout_ms", &timeout_ms, 0, 3600000, "default deadline of a call, covering all attempts (0 = none)");
  o.AddInt("connect_timeout_ms", &connect_timeout_ms, 1, 600000, "TCP connect timeout");
  o.AddUint("max_body_bytes", &max_body_bytes, 1024, codec::kHardMaxBodyBytes, "largest request/response body");
  o.AddInt("heartbeat_interval_ms", &heartbeat_interval_ms, 10, 3600000, "PING after this long without sending");
  o.AddInt("heartbeat_miss_limit", &heartbeat_miss_limit, 1, 100, "close after interval*(limit+1) without receiving");
  o.AddInt("reconnect_backoff_initial_ms", &reconnect_backoff_initial_ms, 1, 600000, "first reconnect delay");
  o.AddDouble("reconnect_backoff_multiplier", &reconnect_backoff_multiplier, 1.0, 10.0, "delay growth per failure");
  o.AddDouble("reconnect_backoff_jitter", &reconnect_backoff_jitter, 0.0, 1.0, "random spread of each delay");
  o.AddInt("reconnect_backoff_max_ms", &reconnect_backoff_max_ms, 1, 3600000, "largest reconnect delay");
}

impl::TransportOptions Channel::Impl::transport_options() const {
  impl::TransportOptions t;
  t.connect_timeout = std::chrono::milliseconds(options.connect_timeout_ms);
  t.heartbeat_interval = std::chrono::milliseconds(options.heartbeat_interval_ms);
  t.heartbeat_miss_limit = options.heartbeat_miss_limit;
  t.max_body_bytes = options.max_body_bytes;
  return t;
}

impl::BackoffOptions Channel::Impl::backoff_options() const {
  impl::BackoffOptions b;
  b.initial = std::chrono::milliseconds(options.reconnect_backoff_initial_ms);
  b.multiplier = options.reconnect_backoff_multiplier;
  b.jitter = options.reconnect_backoff_jitter;
  b.max = std::chrono::milliseconds(options.reconnect_backoff_max_ms);
  return b;
}

void Channel::Impl::UpdateEndpoints(const std::vector<Endpoint>& list) {
  std::lock_guard lock(update_mu);
  auto old = endpoints.load();
  auto next = std::make_shared<EndpointSet>();
  for (const auto& ep : list) {
    std::shared_ptr<impl::Subchannel> keep;
    if (old) {
      for (const auto& s : old->subchannels) {
        if (s->endpoint() == ep) keep = s;
      }
    }
    if (!keep) {
      keep = std::make_shared<impl::Subchannel>(runtime->io().Next().get_executor(), ep, transport_options(),
                                                backoff_options());
    }
    next->subchannels.push_back(std::move(keep));
  }
  endpoints.store(next);
  if (!old) return;
  for (const auto& s : old->subchannels) {
    if (std::find(next->subchannels.begin(), next->subchannels.end(), s) == next->subchannels.end()) s->Shutdown();
  }
  // A changed endpoint set is news: endpoints that stay may be worth a fresh try at once.
  for (const auto& s : next->subchannels) s->ResetBackoff();
}

std::shared_ptr<impl::Subchannel> Channel::Impl::Pick(impl::CallData*) {
  auto set = endpoints.load(std::memory_order_acquire);
  if (!set || set->subchannels.empty()) return nullptr;
  const auto n = set->subchannels.size();
  return set->subchannels[rr.fetch_add(1, std::memory_order_relaxed) % n];
}

void Channel::Impl::StartAttempt(impl::CallData* call) {
  auto sub = Pick(call);
  if (!sub) {
    call->Finish(Status(StatusCode::kUnavailable, "no endpoints known for " + target));
    return;
  }
  ++call->attempts;
  call->remote = sub->address();
  sub->CallStarted();
  call->sink = this;
  call->subchannel = sub;
  sub->StartCall(call);
}

void Channel::Impl::OnAttemptDone(impl::CallData* call, Status status, bool) {
  if (auto sub = std::move(call->subchannel)) sub->CallEnded();
  call->Finish(std::move(status));
}

Channel::Channel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Channel::~Channel() { Shutdown(); }

StatusOr<std::shared_ptr<Channel>> Channel::Create(const std::string& target, ChannelOptions options,
                                                   std::shared_ptr<ClientRuntime> runtime) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->runtime = runtime ? std::move(runtime) : ClientRuntime::Create(1);
  impl->target = target;
  std::string_view list = target;
  if (list.substr(0, 9) == "static://") list.remove_prefix(9);
  if (list.find("://") != std::string_view::npos) {
    return Status(StatusCode::kInvalidArgument,
                  "unsupported target '" + target + "' (expected host:port or static://h1:p1,h2:p2)");
  }
  auto endpoints = ParseEndpointList(list);
  if (!endpoints.ok()) return Status(StatusCode::kInvalidArgument, "target '" + target + "': " + endpoints.status().message());
  impl->UpdateEndpoints(endpoints.value());
  return std::shared_ptr<Channel>(new Channel(std::move(impl)));
}

void Channel::CallMethod(const google::protobuf::MethodDescriptor* method, google::protobuf::RpcController* controller,
                         const google::protobuf::Message* request, google::protobuf::Message* response,
                         google::protobuf::Closure* done) {
  auto& call = static_cast<Controller*>(controller)->data();
  call.ResetCall();
  call.method = method;
  call.request = request;
  call.response = response;
  call.done = done;
  call.start = impl::CallData::Clock::now();
  if (!call.deadline_set) {
    const auto timeout = call.timeout_set ? call.timeout : std::chrono::milliseconds(impl_->options.timeout_ms);
    call.deadline = timeout.count() > 0 ? call.start + timeout : impl::CallData::Clock::time_point::max();
  }
  if (impl_->shut_down.load(std::memory_order_relaxed)) {
    call.Finish(Status(StatusCode::kUnavailable, "channel is shut down"));
  } else {
    impl_->StartAttempt(&call);
  }
  if (!done) call.Wait();
}

std::vector<EndpointInfo> Channel::Endpoints() const {
  std::vector<EndpointInfo> out;
  auto set = impl_->endpoints.load();
  if (!set) return out;
  for (const auto& s : set->subchannels) {
    out.push_back({s->address(), impl::Subchannel::StateName(s->state()), s->inflight(), s->connects(),
                   s->connect_failures()});
  }
  return out;
}

const std::string& Channel::target() const { return impl_->target; }

void Channel::Shutdown() {
  if (impl_->shut_down.exchange(true)) return;
  auto set = impl_->endpoints.load();
  if (!set) return;
  for (const auto& s : set->subchannels) s->Shutdown();
  // Wait until every subchannel's thread ran its shutdown (pending calls are failed there),
  // unless we are on one of those threads.
  auto& io = impl_->runtime->io();
  for (size_t i = 0; i < io.size(); ++i) {
    if (io.At(i).get_executor().running_in_this_thread()) return;
  }
  for (size_t i = 0; i < io.size(); ++i) {
    std::promise<void> passed;
    boost::asio::post(io.At(i), [&passed] { passed.set_value(); });
    passed.get_future().wait();
  }
}

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

std::shared_ptr<ClientRuntime> ClientRuntime::Create(int io_threads) {
  return std::shared_ptr<ClientRuntime>(new ClientRuntime(io_threads));
}

ClientRuntime::ClientRuntime(int io_threads) : pool_(std::make_unique<impl::IoPool>(io_threads, "krpc-cli")) {}
ClientRuntime::~ClientRuntime() = default;
impl::IoPool& ClientRuntime::io() { return *pool_; }

}  // namespace krpc
