// ZkClient's node operations: synchronous create, delete, exists, get, children, and the
// pipelined GetMany. Errors map to krpc status codes naming the operation and the path.
#include <zookeeper/zookeeper.h>

#include <memory>
#include <mutex>
#include <shared_mutex>

#include "zk_client_impl.h"

namespace krpc {

namespace {
struct ACL kProtectedAcl[] = {{ZOO_PERM_ALL, {const_cast<char*>("auth"), const_cast<char*>("")}},
                              {ZOO_PERM_READ, {const_cast<char*>("world"), const_cast<char*>("anyone")}}};
struct ACL_vector kProtected = {2, kProtectedAcl};
}  // namespace

namespace {
// A ZooKeeper return code as a Status naming the operation and the path.
Status FromZk(int rc, const char* op, const std::string& path) {
  if (rc == ZOK) return Status::Ok();
  StatusCode code = StatusCode::kInternal;
  switch (rc) {
    case ZNONODE: code = StatusCode::kNotFound; break;
    case ZNODEEXISTS: code = StatusCode::kAlreadyExists; break;
    case ZNOAUTH: code = StatusCode::kPermissionDenied; break;
    case ZAUTHFAILED: code = StatusCode::kUnauthenticated; break;
    case ZBADARGUMENTS: code = StatusCode::kInvalidArgument; break;
    case ZNOTEMPTY: code = StatusCode::kFailedPrecondition; break;
    case ZBADVERSION: code = StatusCode::kAborted; break;
    case ZCONNECTIONLOSS:
    case ZOPERATIONTIMEOUT:
    case ZSESSIONEXPIRED:
    case ZSESSIONMOVED:
    case ZINVALIDSTATE:
    case ZCLOSING: code = StatusCode::kUnavailable; break;
    default: break;
  }
  return Status(code, std::string("ZooKeeper ") + op + " " + path + ": " + zerror(rc));
}
}  // namespace

Status ZkClient::Create(const std::string& path, const std::string& data, bool ephemeral) {
  std::shared_lock lock(impl_->handle_mu);
  if (!impl_->zh) return FromZk(ZINVALIDSTATE, "create", path);
  auto* acl = impl_->options.digest.empty() ? &ZOO_OPEN_ACL_UNSAFE : &kProtected;
  return FromZk(zoo_create(impl_->zh, path.c_str(), data.data(), static_cast<int>(data.size()), acl,
                           ephemeral ? ZOO_EPHEMERAL : ZOO_PERSISTENT, nullptr, 0),
                "create", path);
}

Status ZkClient::Delete(const std::string& path) {
  std::shared_lock lock(impl_->handle_mu);
  if (!impl_->zh) return FromZk(ZINVALIDSTATE, "delete", path);
  return FromZk(zoo_delete(impl_->zh, path.c_str(), -1), "delete", path);
}

Status ZkClient::Set(const std::string& path, const std::string& data) {
  std::shared_lock lock(impl_->handle_mu);
  if (!impl_->zh) return FromZk(ZINVALIDSTATE, "set", path);
  return FromZk(zoo_set(impl_->zh, path.c_str(), data.data(), static_cast<int>(data.size()), -1), "set", path);
}

Status ZkClient::Exists(const std::string& path, bool watch, bool* exists) {
  std::shared_lock lock(impl_->handle_mu);
  *exists = false;
  if (!impl_->zh) return FromZk(ZINVALIDSTATE, "exists", path);
  struct Stat stat;
  const int rc = zoo_exists(impl_->zh, path.c_str(), watch ? 1 : 0, &stat);
  *exists = rc == ZOK;
  return FromZk(rc == ZNONODE ? ZOK : rc, "exists", path);
}

Status ZkClient::Get(const std::string& path, bool watch, std::string* data, int64_t* ephemeral_owner) {
  std::shared_lock lock(impl_->handle_mu);
  if (!impl_->zh) return FromZk(ZINVALIDSTATE, "get", path);
  std::string buf(64 * 1024, '\0');
  int len = static_cast<int>(buf.size());
  struct Stat stat;
  const int rc = zoo_get(impl_->zh, path.c_str(), watch ? 1 : 0, buf.data(), &len, &stat);
  if (rc == ZOK) {
    buf.resize(len > 0 ? static_cast<size_t>(len) : 0);
    *data = std::move(buf);
    if (ephemeral_owner) *ephemeral_owner = stat.ephemeralOwner;
  }
  return FromZk(rc, "get", path);
}

namespace {

// One GetMany: the answers arrive on the C client's completion thread, possibly after the
// caller stopped waiting, so each request owns a reference to the batch.
struct GetBatch {
  std::mutex mu;
  std::condition_variable cv;
  size_t pending = 0;
  std::vector<int> rc;
  std::vector<std::string> data;
};
struct GetSlot {
  std::shared_ptr<GetBatch> batch;
  size_t index;
};

void OnGetAnswer(int rc, const char* value, int len, const struct Stat*, const void* ctx) {
  std::unique_ptr<GetSlot> slot(static_cast<GetSlot*>(const_cast<void*>(ctx)));
  GetBatch& b = *slot->batch;
  std::lock_guard lock(b.mu);
  b.rc[slot->index] = rc;
  if (rc == ZOK && value && len > 0) b.data[slot->index].assign(value, static_cast<size_t>(len));
  if (--b.pending == 0) b.cv.notify_all();
}

}  // namespace

void ZkClient::GetMany(const std::vector<std::string>& paths, bool watch, std::vector<Status>* results,
                       std::vector<std::string>* data) {
  auto batch = std::make_shared<GetBatch>();
  batch->rc.assign(paths.size(), ZOPERATIONTIMEOUT);
  batch->data.resize(paths.size());
  batch->pending = paths.size();
  {
    std::shared_lock lock(impl_->handle_mu);
    for (size_t i = 0; i < paths.size(); ++i) {
      int rc = ZINVALIDSTATE;
      auto slot = std::make_unique<GetSlot>(GetSlot{batch, i});
      if (impl_->zh) rc = zoo_aget(impl_->zh, paths[i].c_str(), watch ? 1 : 0, OnGetAnswer, slot.get());
      if (rc == ZOK) {
        slot.release();  // the completion owns it now
      } else {
        std::lock_guard b(batch->mu);
        batch->rc[i] = rc;
        --batch->pending;
      }
    }
  }
  std::unique_lock lock(batch->mu);
  batch->cv.wait_for(lock, std::chrono::milliseconds(impl_->options.session_timeout_ms),
                     [&] { return batch->pending == 0; });
  results->clear();
  data->resize(paths.size());
  for (size_t i = 0; i < paths.size(); ++i) {
    results->push_back(FromZk(batch->rc[i], "get", paths[i]));
    (*data)[i] = std::move(batch->data[i]);
  }
}

Status ZkClient::GetChildren(const std::string& path, bool watch, std::vector<std::string>* children) {
  std::shared_lock lock(impl_->handle_mu);
  if (!impl_->zh) return FromZk(ZINVALIDSTATE, "get children of", path);
  struct String_vector v = {0, nullptr};
  const int rc = zoo_get_children(impl_->zh, path.c_str(), watch ? 1 : 0, &v);
  if (rc == ZOK) {
    children->clear();
    for (int i = 0; i < v.count; ++i) children->emplace_back(v.data[i]);
    deallocate_String_vector(&v);
  }
  return FromZk(rc, "get children of", path);
}

Status ZkClient::EnsurePath(const std::string& path) {
  for (size_t pos = 1; pos <= path.size(); ++pos) {
    if (pos != path.size() && path[pos] != '/') continue;
    Status st = Create(path.substr(0, pos), "", false);
    if (!st.ok() && st.code() != StatusCode::kAlreadyExists) return st;
  }
  return Status::Ok();
}


}  // namespace krpc
