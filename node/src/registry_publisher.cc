#include "krpc/registry_publisher.h"

#include <atomic>
#include <future>
#include <mutex>
#include <random>

#include "krpc/config.h"
#include "krpc/log.h"

namespace krpc {
namespace {
enum State { kRegistering, kRegistered, kRetrying, kWaiting, kDeregistered };
constexpr std::chrono::milliseconds kMaxBackoff{10000};
}  // namespace

void RegistryOptions::Register(OptionSet& o) {
  o.AddString("zk_root", &root, "registry root path in ZooKeeper");
  o.AddString("advertise_host", &advertise_host, "host clients dial (containers: their service name or IP)");
  o.AddInt("weight", &weight, 0, 10000, "load-balancing weight published in the znode");
  o.AddString("zone", &zone, "zone label published in the znode");
  o.AddString("version", &version, "version label published in the znode");
  o.AddString("node_id", &node_id, "node id published in the znode (default host:port)");
  o.AddInt("deregister_grace_ms", &deregister_grace_ms, 0, 600000,
           "drain: after removing znodes, wait this long before GOAWAY so clients stop picking the node");
}

// Everything the publisher knows. The RegistryPublisher owns it; work on the ZooKeeper task
// thread holds it weakly (promoting for the duration of one task), so destroying the
// publisher never waits for that thread and no task can outlive what it touches.
// Task-thread state: wanted, registered_session, retry_pending, watches, backoff.
struct RegistryPublisher::Core : std::enable_shared_from_this<Core> {
  std::shared_ptr<ZkClient> zk;
  std::string root;
  registry::ProviderInfo self;
  std::vector<std::string> services;
  std::atomic<bool> registered{false};
  std::atomic<uint64_t> registrations{0};
  std::atomic<uint64_t> repairs{0};
  std::atomic<int> state{kRegistering};
  std::chrono::milliseconds backoff{200};
  bool wanted = false;
  int64_t registered_session = 0;
  bool retry_pending = false;
  std::mutex watches_mu;          // the destructor reads the ids from another thread
  std::vector<uint64_t> watches;  // ZkClient watch ids of our own znodes

  // Posts `fn(core)` to the task thread; it does nothing if the publisher is gone by then.
  template <typename F>
  void Post(F fn, std::chrono::milliseconds delay = std::chrono::milliseconds(0)) {
    zk->Post(
        [weak = weak_from_this(), fn = std::move(fn)] {
          if (auto core = weak.lock()) fn(*core);
        },
        delay);
  }
  void OnSession(ZkClient::SessionEvent e);
  void RegisterAll();
  void ScheduleRetry();
  Status RegisterOne(const std::string& service);
  void WatchOwn();
  void OnOwnZnodeEvent(const std::string& path);
  void Unwatch();
};

RegistryPublisher::RegistryPublisher(std::shared_ptr<ZkClient> zk, std::string root, registry::ProviderInfo self,
                                     std::vector<std::string> services)
    : core_(std::make_shared<Core>()) {
  core_->zk = std::move(zk);
  core_->root = registry::NormalizeRoot(root);
  core_->self = std::move(self);
  core_->services = std::move(services);
  core_->zk->AddSessionListener([weak = std::weak_ptr<Core>(core_)](ZkClient::SessionEvent e) {
    if (auto core = weak.lock()) core->OnSession(e);
  });
}

RegistryPublisher::~RegistryPublisher() {
  // Own-znode watches hold the core weakly too; drop them so the ZooKeeper client forgets us.
  core_->Unwatch();
}

bool RegistryPublisher::registered() const { return core_->registered.load(); }
uint64_t RegistryPublisher::registrations() const { return core_->registrations.load(); }
uint64_t RegistryPublisher::repairs() const { return core_->repairs.load(); }
const registry::ProviderInfo& RegistryPublisher::self() const { return core_->self; }

std::string RegistryPublisher::state() const {
  switch (core_->state.load()) {
    case kRegistering: return "registering";
    case kRegistered: return "registered";
    case kRetrying: return "retrying";
    case kWaiting: return "waiting_for_zookeeper";
    case kDeregistered: return "deregistered";
  }
  return "unknown";
}

void RegistryPublisher::Start() {
  core_->Post([](Core& c) {
    c.wanted = true;
    c.RegisterAll();
  });
}

void RegistryPublisher::Core::OnSession(ZkClient::SessionEvent e) {
  if (e == ZkClient::SessionEvent::kExpired || e == ZkClient::SessionEvent::kDisconnected) {
    if (e == ZkClient::SessionEvent::kExpired) registered = false;
    if (wanted) state = kWaiting;
  } else if (wanted) {
    if (e == ZkClient::SessionEvent::kNewSession) registered = false;
    backoff = std::chrono::milliseconds(200);
    RegisterAll();  // after a new session: re-create; after reconnect: verify
  }
}

Status RegistryPublisher::Core::RegisterOne(const std::string& service) {
  const std::string parent = registry::ProvidersPath(root, service);
  const std::string path = registry::ProviderPath(root, service, self.endpoint);
  Status rc = zk->EnsurePath(parent);
  if (!rc.ok()) return rc;
  rc = zk->Create(path, self.ToJson(), true);
  if (rc.code() != StatusCode::kAlreadyExists) return rc;
  std::string data;
  int64_t owner = 0;
  rc = zk->Get(path, false, &data, &owner);
  if (rc.code() == StatusCode::kNotFound) return zk->Create(path, self.ToJson(), true);
  if (!rc.ok()) return rc;
  if (owner == zk->session_id() && data == self.ToJson()) return Status::Ok();
  // Left by an older session of this address (a restart faster than the session timeout):
  // replace it so it dies with our session, not the old one.
  log::Get("registry")->info("replacing {} left by session 0x{:x}", path, owner);
  rc = zk->Delete(path);
  if (!rc.ok() && rc.code() != StatusCode::kNotFound) return rc;
  return zk->Create(path, self.ToJson(), true);
}

void RegistryPublisher::Core::RegisterAll() {
  if (!wanted) return;
  if (!zk->connected()) {
    state = kWaiting;
    return;  // the next session event registers
  }
  state = registered ? kRegistered : kRegistering;
  for (const auto& service : services) {
    const Status rc = RegisterOne(service);
    if (!rc.ok()) {
      log::Get("registry")->warn("registering {} for {} failed: {}; retrying in {} ms", self.endpoint.ToString(),
                                 service, rc.message(), backoff.count());
      registered = false;
      state = kRetrying;
      ScheduleRetry();
      return;
    }
  }
  WatchOwn();
  registered = true;
  if (zk->session_id() != registered_session) {
    registered_session = zk->session_id();
    registrations.fetch_add(1);
    log::Get("registry")->info("registered {} for {} service(s) under {}", self.endpoint.ToString(), services.size(),
                               root);
  }
  state = kRegistered;
  backoff = std::chrono::milliseconds(200);
}

// ZooKeeper watches fire once: every registration (re)arms an exists-watch on each own znode,
// so a znode deleted from outside (an operator, a tool, a bug) is noticed and re-created
// instead of leaving a node that serves but that no client can find.
void RegistryPublisher::Core::WatchOwn() {
  {
    std::lock_guard lock(watches_mu);
    if (watches.empty()) {
      for (const auto& service : services) {
        const std::string path = registry::ProviderPath(root, service, self.endpoint);
        watches.push_back(zk->WatchPath(path, [weak = weak_from_this(), path] {
          if (auto core = weak.lock()) core->OnOwnZnodeEvent(path);
        }));
      }
    }
  }
  for (const auto& service : services) {
    bool exists = false;
    (void)zk->Exists(registry::ProviderPath(root, service, self.endpoint), true, &exists);
  }
}

void RegistryPublisher::Core::OnOwnZnodeEvent(const std::string& path) {
  if (!wanted) return;
  bool exists = true;
  if (!zk->Exists(path, true, &exists).ok() || exists) return;  // re-armed; still there
  log::Get("registry")->warn("own znode {} was deleted from outside; re-creating it", path);
  repairs.fetch_add(1);
  registered = false;
  RegisterAll();
}

void RegistryPublisher::Core::Unwatch() {
  std::vector<uint64_t> ids;
  {
    std::lock_guard lock(watches_mu);
    ids.swap(watches);
  }
  for (uint64_t id : ids) zk->Unwatch(id);  // thread-safe
}

void RegistryPublisher::Core::ScheduleRetry() {
  if (retry_pending) return;
  retry_pending = true;
  static thread_local std::minstd_rand rng(std::random_device{}());
  const auto wait = std::chrono::milliseconds(backoff.count() / 2 + static_cast<int64_t>(rng() % (backoff.count() / 2 + 1)));
  backoff = std::min(kMaxBackoff, backoff * 2);
  Post(
      [](Core& c) {
        c.retry_pending = false;
        c.RegisterAll();
      },
      wait);
}

bool RegistryPublisher::Deregister(std::chrono::milliseconds timeout) {
  auto done = std::make_shared<std::promise<bool>>();
  auto result = done->get_future();
  // Holds the core strongly: a deregistration asked for is carried out even if the publisher
  // is destroyed before the ZooKeeper thread gets to it.
  core_->zk->Post([core = core_, done] {
    core->wanted = false;
    bool ok = true;
    for (const auto& service : core->services) {
      const Status rc = core->zk->Delete(registry::ProviderPath(core->root, service, core->self.endpoint));
      if (!rc.ok() && rc.code() != StatusCode::kNotFound) ok = false;
    }
    core->registered = false;
    core->state = kDeregistered;
    log::Get("registry")->info("deregistered {}{}", core->self.endpoint.ToString(),
                               ok ? "" : " (ZooKeeper unreachable: znodes go with the session)");
    done->set_value(ok);
  });
  if (result.wait_for(timeout) != std::future_status::ready) return false;
  return result.get();
}

}  // namespace krpc
