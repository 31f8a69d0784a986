#include "krpc/server.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>

#include <future>
#include <mutex>
#include <unordered_map>

#include "krpc/config.h"
#include "krpc/impl/io_pool.h"
#include "server_impl.h"

namespace krpc {
namespace asio = boost::asio;
using node::CallHost;
using node::ServerShared;


namespace {
class NoopObserver final : public ServerObserver {};
}  // namespace

Server::Server(ServerOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->shared->options = std::move(options);
  impl_->shared->limits.max_body_bytes = impl_->shared->options.max_body_bytes;
  impl_->shared->frame_budget =
      std::make_shared<codec::MemoryBudget>(static_cast<size_t>(impl_->shared->options.max_pending_frame_bytes));
  impl_->shared->observer = std::make_shared<NoopObserver>();
  // Every server answers krpc.health.v1.Health/Check (clients' half-open probes use it).
  auto* shared = impl_->shared.get();
  impl_->health = std::make_unique<node::HealthServiceImpl>([shared] { return !shared->draining.load(); },
                                                            [shared] { return shared->methods.Services(); });
  (void)impl_->shared->methods.Add(impl_->health.get());
  // ... and gRPC's standard health service, grpc.health.v1.Health/Check (same messages on the
  // wire), so stock gRPC health probes work against a node.
  (void)impl_->shared->methods.AddAlias("grpc.health.v1.Health", "krpc.health.v1.Health");
  // Reflection, so generic clients (the krpc CLI) can call any service without its .proto.
  if (impl_->shared->options.reflection) {
    impl_->reflection = std::make_unique<node::ReflectionServiceImpl>([shared] { return shared->methods.ServiceDescriptors(); });
    (void)impl_->shared->methods.Add(impl_->reflection.get());
    // ... and gRPC's standard reflection (a bidi stream), for grpcurl, Postman and evans.
    auto services = [shared] { return shared->methods.ServiceDescriptors(); };
    impl_->reflection_v1 = std::make_unique<node::ReflectionV1>(services);
    impl_->reflection_v1alpha = std::make_unique<node::ReflectionV1Alpha>(services);
    (void)impl_->shared->methods.Add(impl_->reflection_v1.get());
    (void)impl_->shared->methods.Add(impl_->reflection_v1alpha.get());
  }
}

Server::~Server() {
  if (impl_->started) Shutdown(std::chrono::milliseconds(0));
}

Status Server::AddService(google::protobuf::Service* service) {
  if (impl_->started) return {StatusCode::kFailedPrecondition, "AddService after Start"};
  return impl_->shared->methods.Add(service);
}

Status Server::AddServiceAlias(const std::string& alias, const std::string& service) {
  if (impl_->started) return {StatusCode::kFailedPrecondition, "AddServiceAlias after Start"};
  return impl_->shared->methods.AddAlias(alias, service);
}

void Server::SetObserver(std::shared_ptr<ServerObserver> observer) {
  if (observer) impl_->shared->observer = std::move(observer);
}

void Server::SetInterceptor(std::shared_ptr<ServerInterceptor> interceptor) {
  impl_->shared->interceptor = std::move(interceptor);
}

Status Server::Start() {
  auto& s = *impl_->shared;
  if (impl_->started) return {StatusCode::kFailedPrecondition, "server already started"};
  for (size_t p = 0; p < node::kProtocols; ++p) {
    s.methods.ForEach([&](node::MethodEntry& e) {
      e.observer_cookie[p] = s.observer->OnMethodRegistered(e.service_name, e.method_name, node::kProtocolNames[p]);
    });
    s.unknown_method_cookie[p] = s.observer->OnMethodRegistered("unknown", "unknown", node::kProtocolNames[p]);
  }
  if (Status sec = impl_->ConfigureSecurity(); !sec.ok()) return sec;
  if (Status over = impl_->ConfigureOverload(); !over.ok()) return over;
  impl_->shared->pool = std::make_shared<impl::IoPool>(s.options.io_threads, "krpc-io");
  if (s.options.handler_threads > 0) s.handler_pool = std::make_unique<asio::thread_pool>(s.options.handler_threads);
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(s.options.listen_host, ec);
  const std::string where = s.options.listen_host + ":" + std::to_string(s.options.port);
  if (ec) return {StatusCode::kInvalidArgument, "listen_host '" + s.options.listen_host + "' is not an IP address"};
  asio::ip::tcp::acceptor acceptor(impl_->shared->pool->At(0));
  const asio::ip::tcp::endpoint ep(address, s.options.port);
  acceptor.open(ep.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(ep, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    impl_->shared->pool->Stop();
    return {StatusCode::kUnavailable, "cannot listen on " + where + ": " + ec.message()};
  }
  impl_->listener = std::make_shared<node::Listener>(impl_->shared, impl_->conns, std::move(acceptor));
  impl_->port = impl_->listener->port();
  impl_->started = true;
  s.log->info("listening on {}:{} with {} I/O threads{}", s.options.listen_host, impl_->port, impl_->shared->pool->size(),
              s.tls ? fmt::format(", TLS {} (client certificates: {})", ToString(s.options.tls_mode),
                                    ToString(s.options.tls_client_auth))
                    : std::string(", plaintext"));
  impl_->listener->Start();
  return Status::Ok();
}

uint16_t Server::port() const { return impl_->port; }
std::vector<std::string> Server::Methods() const { return impl_->shared->methods.Methods(); }
std::vector<std::string> Server::Services() const { return impl_->shared->methods.Services(); }
bool Server::draining() const { return impl_->shared->draining.load(); }

bool Server::Shutdown() { return Shutdown(std::chrono::milliseconds(impl_->shared->options.drain_timeout_ms)); }

bool Server::Shutdown(std::chrono::milliseconds drain_timeout) {
  {
    std::lock_guard lock(impl_->mu);
    if (!impl_->started || impl_->stopped) return true;
    impl_->stopped = true;
  }
  auto& s = *impl_->shared;
  s.draining.store(true);
  // Stop accepting, then tell every connection to go away.
  impl_->listener->Stop();
  auto conns = impl_->conns->Live();
  for (auto& c : conns) c->Goaway();
  bool clean = true;
  {
    std::unique_lock lock(s.drain_mu);
    s.drained.wait_for(lock, drain_timeout, [&] { return s.Drained(); });
    clean = s.inflight.load() == 0;
  }
  if (!clean) s.drain_timeouts.fetch_add(1);
  s.log->info("drain {}: {} calls still in flight", clean ? "complete" : "timed out", s.inflight.load());
  if (const int64_t silent = s.goaway_unacked.load(); silent > 0) {
    s.log->warn("{} connections did not acknowledge GOAWAY within the drain timeout; closing them", silent);
  }
  for (auto& c : conns) c->ForceClose(clean ? "server stopped" : "drain timeout");
  for (auto& c : impl_->conns->Live()) c->ForceClose("server stopped");
  conns.clear();
  // Every loop runs what was posted before this barrier (the closes above).
  for (size_t i = 0; i < impl_->shared->pool->size(); ++i) {
    std::promise<void> passed;
    asio::post(impl_->shared->pool->At(i), [&passed] { passed.set_value(); });
    passed.get_future().wait();
  }
  // Stop the loops; completions posted meanwhile wait in their queues. Then stop accepting
  // posts: from here on, late completions (handler threads after a drain that timed out) run
  // on their own thread under late_mu, and so does what the queues still hold.
  impl_->shared->pool->Stop();
  {
    std::unique_lock lock(s.loops_mu);
    s.loops_running = false;
  }
  if (s.handler_pool) {
    if (!clean) s.handler_pool->stop();  // abandon queued handlers; running ones must return
    s.handler_pool->join();
  }
  impl_->listener.reset();
  std::lock_guard late(s.late_mu);
  for (size_t i = 0; i < impl_->shared->pool->size(); ++i) {
    auto& ctx = impl_->shared->pool->At(i);
    ctx.restart();
    ctx.poll();
  }
  return clean;
}

ServerStats Server::stats() const {
  const auto& s = *impl_->shared;
  ServerStats out;
  out.connections_open = static_cast<uint64_t>(std::max<int64_t>(0, s.connections_open.load()));
  out.connections_accepted = s.connections_accepted.load();
  out.connections_rejected = s.connections_rejected.load();
  out.idle_closed = s.idle_closed.load();
  out.frame_errors = s.frame_errors.load();
  out.calls_inflight = static_cast<uint64_t>(std::max<int64_t>(0, s.inflight.load()));
  out.calls_total = s.calls_total.load();
  out.accept_errors = s.accept_errors.load();
  out.handler_exceptions = s.handler_exceptions.load();
  out.pending_frame_bytes = s.frame_budget ? s.frame_budget->used() : 0;
  out.drain_timeouts = s.drain_timeouts.load();
  out.tls_handshakes = s.tls_handshakes.load();
  out.tls_failures = s.tls_failures.load();
  out.authz_denied = s.authz_denied.load();
  out.replies_dropped = s.replies_dropped.load();
  out.streams_open = static_cast<uint64_t>(std::max<int64_t>(0, s.streams_open.load()));
  out.stream_messages_received = s.stream_messages_received.load();
  out.stream_messages_sent = s.stream_messages_sent.load();
  out.stream_writes_waiting = static_cast<uint64_t>(std::max<int64_t>(0, s.stream_writes_waiting.load()));
  out.overload_refused = s.overload_refused.load();
  out.early_refused = s.early_refused.load();
  if (s.node_limit) {
    out.adaptive_limit = s.node_limit->limit();
    out.adaptive_min_latency_us = std::chrono::duration_cast<std::chrono::microseconds>(s.node_limit->min_latency()).count();
  }
  if (s.tls) {
    out.tls_reloads = s.tls->reloads();
    out.tls_reload_failures = s.tls->reload_failures();
    out.tls_cert_not_after = s.tls->cert_not_after();
  }
  return out;
}

Status Server::ReloadTls() {
  if (!impl_->shared->tls) return {StatusCode::kFailedPrecondition, "TLS is disabled (tls_mode=disabled)"};
  return impl_->shared->tls->Reload();
}

}  // namespace krpc
