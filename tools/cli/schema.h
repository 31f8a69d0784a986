// Schema: where the CLI finds a service's message types, in this order: --proto files (parsed
// at run time by protobuf's compiler Importer, with -I import paths), the target's reflection
// service (krpc.reflection.v1), or the services compiled into krpc (examples, health,
// reflection). Messages are DynamicMessages built from the found descriptors.
#pragma once

#include <google/protobuf/compiler/importer.h>
#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor_database.h>
#include <google/protobuf/dynamic_message.h>

#include <memory>
#include <string>
#include <vector>

#include "krpc/channel.h"
#include "krpc/status.h"

namespace krpc::cli {

class Schema {
 public:
  // Parses `files` (and their imports) found under `import_paths` (default: the current
  // directory, and each file's own directory). Errors name the file, line and column.
  static StatusOr<std::unique_ptr<Schema>> FromProtoFiles(const std::vector<std::string>& files,
                                                          std::vector<std::string> import_paths);
  // Asks `channel`'s reflection service for the files defining `symbol` (a service or method).
  static StatusOr<std::unique_ptr<Schema>> FromReflection(Channel& channel, const std::string& symbol);
  // The services compiled into this binary.
  static std::unique_ptr<Schema> Compiled();

  // "pkg.Service/Method", "/pkg.Service/Method" or "pkg.Service.Method".
  const google::protobuf::MethodDescriptor* FindMethod(const std::string& name) const;
  const google::protobuf::ServiceDescriptor* FindService(const std::string& name) const;
  // A service, a method or a message type, described as proto text.
  std::string Describe(const std::string& symbol) const;
  // The services of the --proto files (empty for other sources).
  std::vector<std::string> FileServices() const;
  google::protobuf::Message* NewMessage(const google::protobuf::Descriptor* type);
  const char* source() const { return source_; }

 private:
  Schema() = default;
  const char* source_ = "";
  std::unique_ptr<google::protobuf::compiler::DiskSourceTree> tree_;
  std::unique_ptr<google::protobuf::compiler::MultiFileErrorCollector> errors_;
  std::unique_ptr<google::protobuf::compiler::Importer> importer_;
  std::vector<const google::protobuf::FileDescriptor*> files_;
  std::unique_ptr<google::protobuf::SimpleDescriptorDatabase> database_;
  std::unique_ptr<google::protobuf::DescriptorPool> own_pool_;
  const google::protobuf::DescriptorPool* pool_ = nullptr;
  google::protobuf::DynamicMessageFactory factory_;
};

// Splits "pkg.Service/Method" (or the other spellings) into service and method names.
bool SplitMethodName(std::string name, std::string* service, std::string* method);

}  // namespace krpc::cli
