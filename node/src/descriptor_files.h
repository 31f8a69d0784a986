// What both reflection services (krpc.reflection.v1, grpc.reflection.v1/v1alpha) answer from:
// the served services' descriptors, the file that defines a symbol, and a file with its imports.
#pragma once

#include <google/protobuf/descriptor.h>
#include <google/protobuf/repeated_field.h>

#include <set>
#include <string>
#include <vector>

namespace krpc::node {

using ServiceList = std::vector<const google::protobuf::ServiceDescriptor*>;

// Appends `file` serialized (a FileDescriptorProto) after everything it imports, each file once
// (`seen` names the files already appended).
void AddWithDependencies(const google::protobuf::FileDescriptor* file, std::set<std::string>* seen,
                         google::protobuf::RepeatedPtrField<std::string>* out);

// The served file that defines `symbol` (a service, one of its methods as "pkg.Svc.M" or
// "pkg.Svc/M", or a message or enum type its file or imports define), or null.
const google::protobuf::FileDescriptor* FileOf(const std::string& symbol, const ServiceList& services);

// A file of the served services' pools by its name ("pkg/x.proto"), or null.
const google::protobuf::FileDescriptor* FileNamed(const std::string& name, const ServiceList& services);

}  // namespace krpc::node
