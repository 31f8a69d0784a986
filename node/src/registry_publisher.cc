#include "krpc/registry_publisher.h"

#include <future>
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

// Lives as long as any task the publisher posted to the ZooKeeper thread.
struct RegistryPublisher::Shared {
  RegistryPublisher* owner;
};

RegistryPublisher::RegistryPublisher(std::shared_ptr<ZkClient> zk, std::string root, registry::ProviderInfo self,
                                     std::vector<std::string> services)
    : zk_(std::move(zk)),
      root_(registry::NormalizeRoot(root)),
      self_(std::move(self)),
      services_(std::move(services)),
      shared_(std::make_shared<Shared>(Shared{this})) {
  std::weak_ptr<Shared> weak = shared_;
  zk_->AddSessionListener([weak](ZkClient::SessionEvent e) {
    auto s = weak.lock();
    if (!s || !s->owner) return;
    auto* self = s->owner;
    if (e == ZkClient::SessionEvent::kExpired || e == ZkClient::SessionEvent::kDisconnected) {
      if (e == ZkClient::SessionEvent::kExpired) self->registered_ = false;
      if (self->wanted_) self->state_ = kWaiting;
    } else if (self->wanted_) {
      if (e == ZkClient::SessionEvent::kNewSession) self->registered_ = false;
      self->backoff_ = std::chrono::milliseconds(200);
      self->RegisterAll();  // after a new session: re-create; after reconnect: verify
    }
  });
}

RegistryPublisher::~RegistryPublisher() {
  // Tasks still queued on the ZooKeeper thread find no owner and do nothing.
  std::promise<void> done;
  zk_->Post([s = shared_, &done] {
    s->owner = nullptr;
    done.set_value();
  });
  done.get_future().wait_for(std::chrono::seconds(5));
}

std::string RegistryPublisher::state() const {
  switch (state_.load()) {
    case kRegistering: return "registering";
    case kRegistered: return "registered";
    case kRetrying: return "retrying";
    case kWaiting: return "waiting_for_zookeeper";
    case kDeregistered: return "deregistered";
  }
  return "unknown";
}

void RegistryPublisher::Start() {
  zk_->Post([s = shared_] {
    if (!s->owner) return;
    s->owner->wanted_ = true;
    s->owner->RegisterAll();
  });
}

int RegistryPublisher::RegisterOne(const std::string& service) {
  const std::string parent = registry::ProvidersPath(root_, service);
  const std::string path = registry::ProviderPath(root_, service, self_.endpoint);
  int rc = zk_->EnsurePath(parent);
  if (rc != 0) return rc;
  rc = zk_->Create(path, self_.ToJson(), true);
  if (!ZkClient::IsNodeExists(rc)) return rc;
  std::string data;
  int64_t owner = 0;
  rc = zk_->Get(path, false, &data, &owner);
  if (ZkClient::IsNoNode(rc)) return zk_->Create(path, self_.ToJson(), true);
  if (rc != 0) return rc;
  if (owner == zk_->session_id() && data == self_.ToJson()) return 0;
  // Left by an older session of this address (a restart faster than the session timeout):
  // replace it so it dies with our session, not the old one.
  log::Get("registry")->info("replacing {} left by session 0x{:x}", path, owner);
  rc = zk_->Delete(path);
  if (rc != 0 && !ZkClient::IsNoNode(rc)) return rc;
  return zk_->Create(path, self_.ToJson(), true);
}

void RegistryPublisher::RegisterAll() {
  if (!wanted_) return;
  if (!zk_->connected()) {
    state_ = kWaiting;
    return;  // the next session event registers
  }
  state_ = registered_ ? kRegistered : kRegistering;
  for (const auto& service : services_) {
    const int rc = RegisterOne(service);
    if (rc != 0) {
      log::Get("registry")->warn("registering {} for {} failed: {}; retrying in {} ms", self_.endpoint.ToString(),
                                 service, ZkClient::ErrorText(rc), backoff_.count());
      registered_ = false;
      state_ = kRetrying;
      ScheduleRetry();
      return;
    }
  }
  registered_ = true;
  if (zk_->session_id() != registered_session_) {
    registered_session_ = zk_->session_id();
    registrations_.fetch_add(1);
    log::Get("registry")->info("registered {} for {} service(s) under {}", self_.endpoint.ToString(),
                               services_.size(), root_);
  }
  state_ = kRegistered;
  backoff_ = std::chrono::milliseconds(200);
}

void RegistryPublisher::ScheduleRetry() {
  if (retry_pending_) return;
  retry_pending_ = true;
  static thread_local std::minstd_rand rng(std::random_device{}());
  const auto wait = std::chrono::milliseconds(backoff_.count() / 2 + static_cast<int64_t>(rng() % (backoff_.count() / 2 + 1)));
  backoff_ = std::min(kMaxBackoff, backoff_ * 2);
  zk_->Post(
      [s = shared_] {
        if (!s->owner) return;
        s->owner->retry_pending_ = false;
        s->owner->RegisterAll();
      },
      wait);
}

bool RegistryPublisher::Deregister(std::chrono::milliseconds timeout) {
  auto done = std::make_shared<std::promise<bool>>();
  auto result = done->get_future();
  zk_->Post([s = shared_, done] {
    if (!s->owner) {
      done->set_value(false);
      return;
    }
    auto* self = s->owner;
    self->wanted_ = false;
    bool ok = true;
    for (const auto& service : self->services_) {
      const int rc = self->zk_->Delete(registry::ProviderPath(self->root_, service, self->self_.endpoint));
      if (rc != 0 && !ZkClient::IsNoNode(rc)) ok = false;
    }
    self->registered_ = false;
    self->state_ = kDeregistered;
    log::Get("registry")->info("deregistered {}{}", self->self_.endpoint.ToString(),
                               ok ? "" : " (ZooKeeper unreachable: znodes go with the session)");
    done->set_value(ok);
  });
  if (result.wait_for(timeout) != std::future_status::ready) return false;
  return result.get();
}

}  // namespace krpc
