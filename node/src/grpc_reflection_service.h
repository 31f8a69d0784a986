// gRPC's standard reflection service, grpc.reflection.v1 and v1alpha ServerReflectionInfo:
// a bidi stream on which a client (grpcurl, Postman, evans, `krpc`) lists the node's services
// and fetches the files that define them, so it can call a node with no .proto files. Served
// with krpc's own krpc.reflection.v1 unless reflection=false. Every answer carries whole files
// with their imports (the protocol allows, but does not require, leaving out files sent before).
#pragma once

#include <functional>
#include <memory>

#include "descriptor_files.h"
#include "grpc/reflection/v1/reflection.pb.h"
#include "grpc/reflection/v1alpha/reflection.pb.h"
#include "krpc/server_stream.h"

namespace krpc::node {

// `Base` is the generated service of one version (v1 or v1alpha); `Req` and `Resp` its messages.
template <typename Base, typename Req, typename Resp>
class StandardReflection final : public Base, public StreamService {
 public:
  // `services`: the served services (read at each request; fixed once the server starts).
  explicit StandardReflection(std::function<ServiceList()> services) : services_(std::move(services)) {}

  void CallStream(const google::protobuf::MethodDescriptor*, std::shared_ptr<ServerStream> stream) override {
    Next(std::move(stream), std::make_shared<Req>());
  }

 private:
  // Reads a request, writes its answer, and again, until the client half-closes.
  void Next(std::shared_ptr<ServerStream> stream, std::shared_ptr<Req> request) {
    ServerStream* s = stream.get();
    s->Read(request.get(), [this, stream = std::move(stream), request](bool ok) mutable {
      if (!ok) return stream->Finish(Status::Ok());
      Resp response;
      Answer(*request, &response);
      ServerStream* s = stream.get();
      s->Write(response, [this, stream = std::move(stream), request](bool written) mutable {
        if (!written) return stream->Finish(Status(StatusCode::kCancelled, "the stream ended"));
        Next(std::move(stream), std::move(request));
      });
    });
  }

  void Answer(const Req& request, Resp* response) const;

  std::function<ServiceList()> services_;
};

using ReflectionV1 = StandardReflection<grpc::reflection::v1::ServerReflection, grpc::reflection::v1::ServerReflectionRequest,
                                        grpc::reflection::v1::ServerReflectionResponse>;
using ReflectionV1Alpha =
    StandardReflection<grpc::reflection::v1alpha::ServerReflection, grpc::reflection::v1alpha::ServerReflectionRequest,
                       grpc::reflection::v1alpha::ServerReflectionResponse>;

}  // namespace krpc::node
