// The reflection service every node serves (krpc.reflection.v1.Reflection, unless
// reflection=false): the names of its services and the FileDescriptorProtos that define them,
// so a generic client (`krpc call`, `krpc describe`) can build their messages at run time.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <google/protobuf/descriptor.h>

#include "krpc/reflection.pb.h"

namespace krpc::node {

class ReflectionServiceImpl final : public krpc::reflection::v1::Reflection {
 public:
  // `services`: the served services' descriptors (read at each call; the table is fixed once
  // the server starts).
  explicit ReflectionServiceImpl(std::function<std::vector<const google::protobuf::ServiceDescriptor*>()> services)
      : services_(std::move(services)) {}

  void ListServices(google::protobuf::RpcController* controller, const krpc::reflection::v1::ListServicesRequest* request,
                    krpc::reflection::v1::ListServicesResponse* response, google::protobuf::Closure* done) override;
  void FileContainingSymbol(google::protobuf::RpcController* controller,
                            const krpc::reflection::v1::FileContainingSymbolRequest* request,
                            krpc::reflection::v1::FileDescriptorResponse* response, google::protobuf::Closure* done) override;

 private:
  std::function<std::vector<const google::protobuf::ServiceDescriptor*>()> services_;
};

}  // namespace krpc::node
