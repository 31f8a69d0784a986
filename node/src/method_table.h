// MethodTable: full method name ("/package.Service/Method") -> the service and descriptors.
// Built before the server starts, read-only afterwards (so lookups need no lock).
#pragma once

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <google/protobuf/service.h>

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "krpc/server_stream.h"
#include "krpc/status.h"
#include "concurrency_limit.h"
#include "service_time.h"

namespace krpc::node {

// The protocols a server connection speaks; metrics carry it as the `protocol` label.
enum class Protocol : uint8_t { kKrpc = 0, kGrpc = 1 };
inline constexpr size_t kProtocols = 2;
inline constexpr std::string_view kProtocolNames[kProtocols] = {"krpc", "grpc"};

// What the node measures and limits per method (shared by a method's aliases).
struct MethodLoad {
  ServiceTime service_time;                // median handler time (early_refusal)
  std::unique_ptr<ConcurrencyLimit> limit;  // method_max_inflight, or null
};

// Unary, or which side streams (the method's `stream` keywords in its .proto).
enum class MethodKind : uint8_t { kUnary, kServerStream, kClientStream, kBidi };

struct MethodEntry {
  google::protobuf::Service* service = nullptr;
  MethodKind kind = MethodKind::kUnary;
  StreamService* streamer = nullptr;  // the service's stream handler (streaming methods)
  const google::protobuf::MethodDescriptor* method = nullptr;
  const google::protobuf::Message* request_prototype = nullptr;
  const google::protobuf::Message* response_prototype = nullptr;
  std::string full_name;     // "/krpc.examples.EchoService/Echo"
  std::string service_name;  // "krpc.examples.EchoService"
  std::string method_name;   // "Echo"
  void* observer_cookie[kProtocols] = {};  // per protocol, from ServerObserver::OnMethodRegistered
  // Authorization (set at Start from authz_allow): the identities that may call it, or null
  // when any peer may. See AuthzPolicy.
  const std::vector<std::string>* allowed = nullptr;
  std::shared_ptr<MethodLoad> load = std::make_shared<MethodLoad>();  // never null

  bool streaming() const { return kind != MethodKind::kUnary; }
};

class MethodTable {
 public:
  // Fails (naming the method) when the service has a streaming method but does not implement
  // krpc::StreamService: a stream could not be served.
  Status Add(google::protobuf::Service* service);
  // Serves every method of the added service `service` under the name `alias` too (same
  // handler and messages; the alias is not listed in Services()).
  Status AddAlias(const std::string& alias, const std::string& service);
  const MethodEntry* Find(std::string_view full_name) const;
  // Calls fn(entry) for every method, allowing the entry's cookie to be set (before Start).
  template <typename F>
  void ForEach(F fn) {
    for (auto& [name, e] : methods_) fn(e);
  }
  std::vector<std::string> Methods() const;
  std::vector<std::string> Services() const;
  // The added services' descriptors (aliases are not services of their own).
  std::vector<const google::protobuf::ServiceDescriptor*> ServiceDescriptors() const { return descriptors_; }

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, MethodEntry, Hash, std::equal_to<>> methods_;
  std::vector<std::string> services_;
  std::vector<const google::protobuf::ServiceDescriptor*> descriptors_;
};

}  // namespace krpc::node
