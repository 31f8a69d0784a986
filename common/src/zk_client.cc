#include <cstring>

#include "zk_client_impl.h"
#include "zk_log.h"

namespace krpc {

void ZkClient::Impl::Watcher(zhandle_t* zh, int type, int state, const char* path, void* ctx) {
  // Runs on the C client's event thread: only enqueue.
  auto* self = static_cast<Impl*>(ctx);
  if (type == ZOO_SESSION_EVENT) {
    self->Enqueue([self, zh, state] { self->OnSessionEvent(zh, state); }, {});
  } else if (path && *path) {
    std::string p(path);
    self->Enqueue([self, p] { self->OnNodeEvent(p); }, {});
  }
}

void ZkClient::Impl::Enqueue(std::function<void()> fn, Clock::duration delay) {
  {
    std::lock_guard lock(mu);
    if (stopping) return;
    tasks.emplace(Clock::now() + delay, std::move(fn));
  }
  cv.notify_all();
}

void ZkClient::Impl::Run() {
  std::unique_lock lock(mu);
  while (!stopping) {
    if (tasks.empty()) {
      cv.wait(lock);
      continue;
    }
    const auto when = tasks.begin()->first;
    if (when > Clock::now()) {
      cv.wait_until(lock, when);
      continue;
    }
    auto fn = std::move(tasks.begin()->second);
    tasks.erase(tasks.begin());
    lock.unlock();
    try {
      fn();
    } catch (const std::exception& e) {
      log->error("ZooKeeper task failed: {}", e.what());
    }
    lock.lock();
  }
}

ResolvedEnsemble ZkClient::Impl::Resolve() {
  ResolvedEnsemble r = ResolveEnsemble(options.hosts);
  std::string text;
  for (const auto& u : r.unresolved) text += (text.empty() ? "" : ", ") + u;
  if (text != unresolved_text) {
    if (!text.empty()) log->warn("ZooKeeper servers that do not resolve now, left out until they do: {}", text);
    else log->info("every ZooKeeper server in '{}' resolves again", options.hosts);
    unresolved_text = text;
  }
  return r;
}

void ZkClient::Impl::Open() {
  ResolvedEnsemble r = Resolve();
  std::unique_lock lock(handle_mu);
  if (zh) zookeeper_close(zh);
  zh = nullptr;
  state = 0;
  if (r.hosts.empty()) {
    log->error("no ZooKeeper server in '{}' resolves; retrying in 1 s", options.hosts);
    lock.unlock();
    Enqueue([this] { Open(); }, std::chrono::seconds(1));
    return;
  }
  zh = zookeeper_init2(r.hosts.c_str(), &Impl::Watcher, options.session_timeout_ms, nullptr, this, 0,
                       &ZooKeeperLog);
  state = zh ? ZOO_CONNECTING_STATE : 0;
  if (!zh) {
    log->error("zookeeper_init({}) failed: {}; retrying in 1 s", r.hosts, std::strerror(errno));
    lock.unlock();
    Enqueue([this] { Open(); }, std::chrono::seconds(1));
    return;
  }
  addresses = r.hosts;
  if (!options.digest.empty()) {
    zoo_add_auth(zh, "digest", options.digest.data(), static_cast<int>(options.digest.size()), nullptr, nullptr);
  }
}

void ZkClient::Impl::Reresolve() {
  Enqueue([this] { Reresolve(); }, kResolveInterval);
  ResolvedEnsemble r = Resolve();
  std::shared_lock lock(handle_mu);
  if (!zh || r.hosts.empty() || r.hosts == addresses) return;
  // The C client keeps its session and moves to a server of the new list if it must.
  if (const int rc = zoo_set_servers(zh, r.hosts.c_str()); rc != ZOK) {
    log->warn("zoo_set_servers({}) failed: {}", r.hosts, zerror(rc));
    return;
  }
  log->info("ZooKeeper server addresses now {} (were {})", r.hosts, addresses);
  addresses = r.hosts;
}

void ZkClient::Impl::OnSessionEvent(zhandle_t* from, int st) {
  {
    std::shared_lock lock(handle_mu);
    if (from != zh) return;  // an event of a handle already replaced
  }
  state = st;
  if (st == ZOO_CONNECTED_STATE) {
    int64_t id = 0;
    {
      std::shared_lock lock(handle_mu);
      const clientid_t* cid = zoo_client_id(zh);
      id = cid->client_id;
      std::lock_guard l(mu);
      password.assign(cid->passwd, sizeof cid->passwd);
    }
    session = id;
    const bool fresh = id != last_session;
    last_session = id;
    was_connected = true;
    if (fresh) sessions_started.fetch_add(1);
    log->info("ZooKeeper {} (session 0x{:x})", fresh ? "session established" : "reconnected", id);
    {
      std::lock_guard l(connected_mu);
      connected_cv.notify_all();
    }
    Emit(fresh ? SessionEvent::kNewSession : SessionEvent::kReconnected);
  } else if (st == ZOO_CONNECTING_STATE) {
    if (was_connected) log->warn("ZooKeeper connection lost; reconnecting (session 0x{:x} may survive)", last_session);
    was_connected = false;
    Emit(SessionEvent::kDisconnected);
  } else if (st == ZOO_EXPIRED_SESSION_STATE) {
    expirations.fetch_add(1);
    log->warn("ZooKeeper session 0x{:x} expired; opening a new session", last_session);
    was_connected = false;
    session = 0;
    Emit(SessionEvent::kExpired);
    Open();
  } else if (st == ZOO_AUTH_FAILED_STATE) {
    log->error("ZooKeeper authentication failed (zk_digest); retrying in 5 s");
    Enqueue([this] { Open(); }, std::chrono::seconds(5));
  }
}

void ZkClient::Impl::OnNodeEvent(const std::string& path) {
  std::vector<std::function<void()>> handlers;
  {
    std::lock_guard lock(mu);
    auto [b, e] = watches.equal_range(path);
    for (auto it = b; it != e; ++it) handlers.push_back(it->second.second);
  }
  for (auto& h : handlers) h();
}

void ZkClient::Impl::Emit(SessionEvent e) {
  std::vector<std::function<void(SessionEvent)>> copy;
  {
    std::lock_guard lock(mu);
    copy = listeners;
  }
  for (auto& l : copy) l(e);
}

ZkClient::ZkClient(ZkOptions options) : impl_(std::make_shared<Impl>()) { impl_->options = std::move(options); }

ZkClient::~ZkClient() { Stop(); }

Status ZkClient::Start() {
  if (impl_->options.hosts.empty()) return {StatusCode::kInvalidArgument, "zk_hosts is empty"};
  if (Status s = impl_->options.Validate(); !s.ok()) return s;
  if (impl_->thread.joinable()) return Status::Ok();
  static std::once_flag quiet;
  std::call_once(quiet, [] { zoo_set_debug_level(ZOO_LOG_LEVEL_ERROR); });
  auto* impl = impl_.get();
  impl_->thread = std::thread([impl] {
    pthread_setname_np(pthread_self(), "krpc-zk");
    impl->Run();
  });
  impl_->Enqueue([impl] { impl->Open(); }, {});
  impl_->Enqueue([impl] { impl->Reresolve(); }, Impl::kResolveInterval);
  return Status::Ok();
}

void ZkClient::Stop() {
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->stopping) return;
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  if (impl_->thread.joinable()) impl_->thread.join();
  // Tasks that never ran (delayed retries) may hold their owners: release them now.
  std::multimap<Clock::time_point, std::function<void()>> dropped;
  {
    std::lock_guard lock(impl_->mu);
    dropped.swap(impl_->tasks);
  }
  dropped.clear();
  std::unique_lock lock(impl_->handle_mu);
  if (impl_->zh) zookeeper_close(impl_->zh);  // ends the session: our ephemerals go at once
  impl_->zh = nullptr;
  impl_->state = 0;
}

bool ZkClient::WaitConnected(std::chrono::milliseconds timeout) {
  std::unique_lock lock(impl_->connected_mu);
  return impl_->connected_cv.wait_for(lock, timeout, [&] { return connected(); });
}

void ZkClient::Post(std::function<void()> fn, std::chrono::milliseconds delay) { impl_->Enqueue(std::move(fn), delay); }

void ZkClient::AddSessionListener(std::function<void(SessionEvent)> listener) {
  std::lock_guard lock(impl_->mu);
  impl_->listeners.push_back(std::move(listener));
}

uint64_t ZkClient::WatchPath(const std::string& path, std::function<void()> handler) {
  std::lock_guard lock(impl_->mu);
  const uint64_t id = impl_->next_watch++;
  impl_->watches.emplace(path, std::make_pair(id, std::move(handler)));
  return id;
}

void ZkClient::Unwatch(uint64_t id) {
  std::lock_guard lock(impl_->mu);
  std::erase_if(impl_->watches, [id](const auto& kv) { return kv.second.first == id; });
}

bool ZkClient::connected() const { return impl_->state.load() == ZOO_CONNECTED_STATE; }

std::string ZkClient::state() const {
  const int s = impl_->state.load();
  if (s == ZOO_CONNECTED_STATE) return "connected";
  if (s == ZOO_CONNECTING_STATE || s == ZOO_ASSOCIATING_STATE) return "connecting";
  if (s == ZOO_EXPIRED_SESSION_STATE) return "expired";
  if (s == ZOO_AUTH_FAILED_STATE) return "auth_failed";
  return "closed";
}

int64_t ZkClient::session_id() const { return impl_->session.load(); }
std::string ZkClient::session_password() const {
  std::lock_guard lock(impl_->mu);
  return impl_->password;
}
uint64_t ZkClient::sessions_started() const { return impl_->sessions_started.load(); }
uint64_t ZkClient::expirations() const { return impl_->expirations.load(); }
const ZkOptions& ZkClient::options() const { return impl_->options; }

}  // namespace krpc
