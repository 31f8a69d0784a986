#include "schema.h"

#include <google/protobuf/descriptor.pb.h>

#include <algorithm>
#include <filesystem>

#include "examples/echo.pb.h"
#include "examples/user.pb.h"
#include "krpc/controller.h"
#include "krpc/health.pb.h"
#include "krpc/reflection.pb.h"

namespace krpc::cli {
namespace gp = google::protobuf;

namespace {
class CollectErrors final : public gp::compiler::MultiFileErrorCollector {
 public:
  void AddError(const std::string& file, int line, int column, const std::string& message) override {
    text += file + ":" + std::to_string(line + 1) + ":" + std::to_string(column + 1) + ": " + message + "\n";
  }
  std::string text;
};
}  // namespace

bool SplitMethodName(std::string name, std::string* service, std::string* method) {
  if (!name.empty() && name[0] == '/') name.erase(0, 1);
  auto cut = name.find('/');
  if (cut == std::string::npos) cut = name.rfind('.');
  if (cut == std::string::npos || cut == 0 || cut + 1 >= name.size()) return false;
  *service = name.substr(0, cut);
  *method = name.substr(cut + 1);
  return true;
}

StatusOr<std::unique_ptr<Schema>> Schema::FromProtoFiles(const std::vector<std::string>& files,
                                                         std::vector<std::string> import_paths) {
  std::unique_ptr<Schema> s(new Schema());
  s->source_ = "--proto";
  s->tree_ = std::make_unique<gp::compiler::DiskSourceTree>();
  if (import_paths.empty()) {
    import_paths.push_back(".");
    for (const auto& f : files) {
      const auto dir = std::filesystem::path(f).parent_path().string();
      if (!dir.empty() && std::find(import_paths.begin(), import_paths.end(), dir) == import_paths.end()) {
        import_paths.push_back(dir);
      }
    }
  }
  for (const auto& p : import_paths) s->tree_->MapPath("", p);
  auto errors = std::make_unique<CollectErrors>();
  auto* errors_raw = errors.get();
  s->errors_ = std::move(errors);
  s->importer_ = std::make_unique<gp::compiler::Importer>(s->tree_.get(), s->errors_.get());
  for (const auto& f : files) {
    // Import by the path relative to the import path that holds it (as protoc does).
    if (!std::filesystem::is_regular_file(f)) {
      return Status(StatusCode::kInvalidArgument, "cannot read --proto file '" + f + "'");
    }
    std::string virtual_file;
    std::string shadowing;
    if (s->tree_->DiskFileToVirtualFile(f, &virtual_file, &shadowing) !=
        gp::compiler::DiskSourceTree::SUCCESS) {
      virtual_file = f;  // not under an import path: Import() reports it
    }
    const auto* fd = s->importer_->Import(virtual_file);
    if (!fd) {
      return Status(StatusCode::kInvalidArgument,
                    "cannot parse --proto file '" + f + "'" +
                        (errors_raw->text.empty() ? std::string(" (is it under an -I import path?)") : ":\n" + errors_raw->text));
    }
    s->files_.push_back(fd);
  }
  s->pool_ = s->importer_->pool();
  return s;
}

StatusOr<std::unique_ptr<Schema>> Schema::FromReflection(Channel& channel, const std::string& symbol) {
  krpc::reflection::v1::Reflection_Stub stub(&channel);
  krpc::reflection::v1::FileContainingSymbolRequest req;
  req.set_symbol(symbol);
  krpc::reflection::v1::FileDescriptorResponse resp;
  Controller cntl;
  stub.FileContainingSymbol(&cntl, &req, &resp, nullptr);
  if (cntl.Failed()) return cntl.status();
  std::unique_ptr<Schema> s(new Schema());
  s->source_ = "reflection";
  s->database_ = std::make_unique<gp::SimpleDescriptorDatabase>();
  for (const auto& bytes : resp.file_descriptor_proto()) {
    gp::FileDescriptorProto file;
    if (!file.ParseFromString(bytes) || !s->database_->Add(file)) {
      return Status(StatusCode::kDataLoss, "the target's reflection service sent a bad file descriptor");
    }
  }
  s->own_pool_ = std::make_unique<gp::DescriptorPool>(s->database_.get());
  s->pool_ = s->own_pool_.get();
  return s;
}

std::unique_ptr<Schema> Schema::Compiled() {
  (void)krpc::examples::EchoService::descriptor();  // link them into the generated pool
  (void)krpc::examples::UserService::descriptor();
  (void)krpc::health::v1::Health::descriptor();
  (void)krpc::reflection::v1::Reflection::descriptor();
  std::unique_ptr<Schema> s(new Schema());
  s->source_ = "compiled-in";
  s->pool_ = gp::DescriptorPool::generated_pool();
  return s;
}

const gp::ServiceDescriptor* Schema::FindService(const std::string& name) const {
  return pool_->FindServiceByName(!name.empty() && name[0] == '/' ? name.substr(1) : name);
}

const gp::MethodDescriptor* Schema::FindMethod(const std::string& name) const {
  std::string service, method;
  if (!SplitMethodName(name, &service, &method)) return nullptr;
  const auto* s = FindService(service);
  return s ? s->FindMethodByName(method) : nullptr;
}

std::string Schema::Describe(const std::string& symbol) const {
  if (const auto* s = FindService(symbol)) return s->DebugString();
  if (const auto* m = FindMethod(symbol)) {
    return "// " + m->full_name() + "\nrpc " + m->name() + "(" + m->input_type()->full_name() + ") returns (" +
           m->output_type()->full_name() + ");\n\n" + m->input_type()->DebugString() + "\n" +
           m->output_type()->DebugString();
  }
  if (const auto* t = pool_->FindMessageTypeByName(symbol)) return t->DebugString();
  if (const auto* e = pool_->FindEnumTypeByName(symbol)) return e->DebugString();
  return {};
}

std::vector<std::string> Schema::FileServices() const {
  std::vector<std::string> out;
  for (const auto* f : files_) {
    for (int i = 0; i < f->service_count(); ++i) out.push_back(f->service(i)->full_name());
  }
  return out;
}

gp::Message* Schema::NewMessage(const gp::Descriptor* type) { return factory_.GetPrototype(type)->New(); }

}  // namespace krpc::cli
