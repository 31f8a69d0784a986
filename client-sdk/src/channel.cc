#include "krpc/channel.h"

#include "krpc/codec/frame.h"

#include <boost/asio/post.hpp>

#include <algorithm>
#include <thread>

#include "channel_impl.h"
#include "runtime_access.h"
#include "krpc/impl/deadline.h"
#include "krpc/impl/io_pool.h"
#include "krpc/zk_client.h"


namespace krpc {
namespace asio = boost::asio;

std::string_view ToString(EndpointState s) {
  switch (s) {
    case EndpointState::kIdle: return "idle";
    case EndpointState::kConnecting: return "connecting";
    case EndpointState::kReady: return "ready";
    case EndpointState::kBackoff: return "backoff";
    case EndpointState::kShutdown: return "shutdown";
  }
  return "unknown";
}

std::string_view ToString(BreakerState s) {
  switch (s) {
    case BreakerState::kClosed: return "closed";
    case BreakerState::kHalfOpen: return "half_open";
    case BreakerState::kOpen: return "open";
  }
  return "unknown";
}

Channel::Channel(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

Channel::~Channel() { Shutdown(); }

namespace {
// The server closes a connection whose request header exceeds 64 KiB, failing every call on
// it; too much metadata fails only this call, here, before it is sent anywhere.
Status CheckMetadataSize(const impl::CallData& call) {
  size_t bytes = 64 + call.method->full_name().size();  // call id, timeout, method, framing
  for (const auto& [k, v] : call.metadata) bytes += k.size() + v.size() + 12;
  if (bytes <= codec::kMaxHeaderBytes) return Status::Ok();
  return Status(StatusCode::kResourceExhausted, "request metadata of about " + std::to_string(bytes) +
                                                    " bytes exceeds the 64 KiB header limit");
}

// "zk://h1:p1,h2:p2/root" -> hosts, root.
bool ParseZkTarget(std::string_view t, std::string* hosts, std::string* root) {
  t.remove_prefix(5);
  const auto slash = t.find('/');
  *hosts = std::string(t.substr(0, slash));
  *root = slash == std::string_view::npos ? "/krpc" : std::string(t.substr(slash));
  return !hosts->empty() && ParseEndpointList(*hosts).ok();
}
}  // namespace

StatusOr<std::shared_ptr<Channel>> Channel::Create(const std::string& target, ChannelOptions options,
                                                   std::shared_ptr<ClientRuntime> runtime) {
  auto impl = std::make_shared<Impl>(options);
  if (Status s = impl->Configure(); !s.ok()) return s;
  impl->runtime = runtime ? std::move(runtime) : ClientRuntime::Create(1);
  impl->target = target;
  impl->client_observer = impl->runtime->observer();
  std::string_view t = target;
  if (t.substr(0, 5) == "zk://") {
    std::string hosts, root;
    if (!ParseZkTarget(t, &hosts, &root)) {
      return Status(StatusCode::kInvalidArgument, "bad target '" + target + "': expected zk://host:port[,host:port]/root");
    }
    ZkOptions zk;
    zk.hosts = hosts;
    zk.session_timeout_ms = options.zk_session_timeout_ms;
    if (Status s = zk.Validate(); !s.ok()) return Status(StatusCode::kInvalidArgument, "target '" + target + "': " + s.message());
    impl->discovery = impl::RuntimeAccess::Discovery(*impl->runtime, zk, root);
    auto rt = impl->runtime;
    std::shared_ptr<Channel> ch(new Channel(std::move(impl)));
    impl::RuntimeAccess::Track(*rt, ch);
    return ch;
  }
  if (t.substr(0, 9) == "static://") t.remove_prefix(9);
  if (t.find("://") != std::string_view::npos) {
    return Status(StatusCode::kInvalidArgument,
                  "unsupported target '" + target + "' (expected host:port, static://h1:p1,h2:p2 or zk://hosts/root)");
  }
  auto endpoints = ParseEndpointList(t);
  if (!endpoints.ok()) return Status(StatusCode::kInvalidArgument, "target '" + target + "': " + endpoints.status().message());
  impl->static_route = std::make_shared<Route>();
  std::vector<registry::ProviderInfo> providers;
  for (auto& ep : endpoints.value()) {
    registry::ProviderInfo p;
    p.endpoint = ep;
    providers.push_back(std::move(p));
  }
  impl->UpdateEndpoints(*impl->static_route, providers);
  impl->ArmSweep(impl->static_route);
  auto rt = impl->runtime;
  std::shared_ptr<Channel> ch(new Channel(std::move(impl)));
  impl::RuntimeAccess::Track(*rt, ch);
  return ch;
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
  call.sink = impl_;
  call.start = impl::CallData::Clock::now();
  impl_->calls.fetch_add(1, std::memory_order_relaxed);
  impl_->retry->OnRequest(call.start);
  if (!call.deadline_set) {
    const auto timeout = call.timeout_set ? call.timeout : std::chrono::milliseconds(impl_->options.timeout_ms);
    call.deadline = impl::SaturatingDeadline(call.start, timeout);
  }
  if (impl_->shut_down.load(std::memory_order_relaxed)) {
    impl_->FinishCall(&call, Status(StatusCode::kUnavailable, "channel is shut down"));
  } else if (Status s = CheckMetadataSize(call); !s.ok()) {
    impl_->FinishCall(&call, std::move(s));
  } else {
    impl_->StartCall(&call);
  }
  if (!done) call.Wait();
}

Status Channel::WaitForEndpoints(const std::string& service, std::chrono::milliseconds timeout) {
  auto route = impl_->RouteForService(service);
  const auto until = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto set = route->endpoints.load();
    if (set && !set->subchannels.empty()) return Status::Ok();
    if (std::chrono::steady_clock::now() >= until) {
      return Status(StatusCode::kDeadlineExceeded, "no endpoints of " + service + " known after " +
                                                       std::to_string(timeout.count()) + " ms");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

std::vector<EndpointInfo> Channel::Endpoints() const {
  std::vector<EndpointInfo> out;
  for (const auto& route : impl_->AllRoutes()) {
    auto set = route->endpoints.load();
    if (!set) continue;
    for (const auto& s : set->subchannels) {
      EndpointInfo e;
      e.service = route->service;
      e.address = s->address();
      e.state = s->state();
      e.inflight = s->load().inflight();
      e.connects = s->connects();
      e.connect_failures = s->connect_failures();
      e.tls_failures = s->tls_failures();
      e.breaker = s->breaker_state();
      e.weight = s->load().weight();
      e.latency_ewma_us = s->load().ewma().value_us();
      e.connections_active = s->connections_active();
      e.connections_idle = s->connections_idle();
      e.reuses = s->reuses();
      e.breaker_transitions = s->breaker_transitions();
      const auto now = std::chrono::steady_clock::now();
      e.stalled = s->load().stalled(now, impl_->StallThreshold(*route, now));
      e.slow_start = s->load().SlowStartShare(now);
      e.stalls = s->load().stalls();
      e.latency_ejections = s->latency_ejections();
      out.push_back(std::move(e));
    }
  }
  return out;
}

const std::string& Channel::target() const { return impl_->target; }

ChannelStats Channel::stats() const {
  ChannelStats s;
  s.calls = impl_->calls.load();
  s.retries = impl_->retries.load();
  s.transparent_retries = impl_->transparent_retries.load();
  s.retry_budget_exhausted = impl_->retry->budget_exhausted();
  s.panic_picks = impl_->panic_picks.load();
  s.per_try_timeouts = impl_->per_try_timeouts.load();
  s.hedges = impl_->hedges.load();
  s.hedges_won = impl_->hedges_won.load();
  s.hedge_budget_exhausted = impl_->hedging->budget_exhausted();
  for (const auto& r : impl_->AllRoutes()) {
    s.ejections_refused += r->ejection->refused.load();
    if (auto set = r->endpoints.load()) {
      for (const auto& sub : set->subchannels) {
        s.stalls += sub->load().stalls();
        s.latency_ejections += sub->latency_ejections();
      }
    }
  }
  return s;
}

void Channel::Shutdown() {
  if (impl_->shut_down.exchange(true)) return;
  for (const auto& route : impl_->AllRoutes()) {
    if (impl_->discovery && route->subscription) impl_->discovery->Unsubscribe(route->subscription);
    std::vector<std::pair<std::shared_ptr<impl::CallToken>, uint64_t>> waiting;
    std::vector<std::shared_ptr<impl::Subchannel>> retiring;
    {
      std::lock_guard lock(route->mu);
      waiting.swap(route->waiting);
      retiring.swap(route->retiring);
    }
    for (const auto& s : retiring) s->Shutdown();
    for (auto& [token, seq] : waiting) {
      if (auto* call = impl::CallToken::Resume(token, impl::CallState::kWaitingForList)) {
        impl_->FinishCall(call, Status(StatusCode::kUnavailable, "channel is shut down"));
      }
    }
    if (auto set = route->endpoints.load()) {
      for (const auto& s : set->subchannels) s->Shutdown();
    }
  }
  // Wait until every I/O thread ran the shutdowns above (pending calls are failed there),
  // unless we are on one of those threads.
  auto& io = impl::RuntimeAccess::Io(*impl_->runtime);
  for (size_t i = 0; i < io.size(); ++i) {
    if (io.At(i).get_executor().running_in_this_thread()) return;
  }
  for (size_t i = 0; i < io.size(); ++i) {
    std::promise<void> passed;
    asio::post(io.At(i), [&passed] { passed.set_value(); });
    passed.get_future().wait();
  }
}

}  // namespace krpc
