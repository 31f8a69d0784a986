#include "grpc_reflection_service.h"

#include <algorithm>
#include <set>
#include <string>
#include <vector>

namespace krpc::node {

template <typename Base, typename Req, typename Resp>
void StandardReflection<Base, Req, Resp>::Answer(const Req& request, Resp* response) const {
  response->set_valid_host(request.host());
  *response->mutable_original_request() = request;
  const ServiceList services = services_();
  auto not_found = [&](const std::string& what) {
    response->mutable_error_response()->set_error_code(static_cast<int>(StatusCode::kNotFound));
    response->mutable_error_response()->set_error_message(what);
  };
  auto send_file = [&](const google::protobuf::FileDescriptor* file) {
    std::set<std::string> seen;
    AddWithDependencies(file, &seen, response->mutable_file_descriptor_response()->mutable_file_descriptor_proto());
  };
  switch (request.message_request_case()) {
    case Req::kListServices: {
      std::vector<std::string> names;
      for (const auto* s : services) names.push_back(s->full_name());
      std::sort(names.begin(), names.end());
      for (auto& n : names) response->mutable_list_services_response()->add_service()->set_name(std::move(n));
      return;
    }
    case Req::kFileContainingSymbol:
      if (const auto* f = FileOf(request.file_containing_symbol(), services)) return send_file(f);
      return not_found("no served service, method or type named '" + request.file_containing_symbol() + "'");
    case Req::kFileByFilename:
      if (const auto* f = FileNamed(request.file_by_filename(), services)) return send_file(f);
      return not_found("no file named '" + request.file_by_filename() + "'");
    case Req::kFileContainingExtension: {
      const auto& ext = request.file_containing_extension();
      for (const auto* s : services) {
        const auto* pool = s->file()->pool();
        const auto* type = pool->FindMessageTypeByName(ext.containing_type());
        if (const auto* f = type ? pool->FindExtensionByNumber(type, ext.extension_number()) : nullptr) {
          return send_file(f->file());
        }
      }
      return not_found("no extension " + std::to_string(ext.extension_number()) + " of '" + ext.containing_type() + "'");
    }
    case Req::kAllExtensionNumbersOfType: {
      for (const auto* s : services) {
        const auto* pool = s->file()->pool();
        if (const auto* type = pool->FindMessageTypeByName(request.all_extension_numbers_of_type())) {
          auto* out = response->mutable_all_extension_numbers_response();
          out->set_base_type_name(type->full_name());
          std::vector<const google::protobuf::FieldDescriptor*> extensions;
          pool->FindAllExtensions(type, &extensions);
          for (const auto* e : extensions) out->add_extension_number(e->number());
          return;
        }
      }
      return not_found("no type named '" + request.all_extension_numbers_of_type() + "'");
    }
    default:
      response->mutable_error_response()->set_error_code(static_cast<int>(StatusCode::kInvalidArgument));
      response->mutable_error_response()->set_error_message("the request names nothing to look up");
  }
}

template class StandardReflection<grpc::reflection::v1::ServerReflection, grpc::reflection::v1::ServerReflectionRequest,
                                  grpc::reflection::v1::ServerReflectionResponse>;
template class StandardReflection<grpc::reflection::v1alpha::ServerReflection,
                                  grpc::reflection::v1alpha::ServerReflectionRequest,
                                  grpc::reflection::v1alpha::ServerReflectionResponse>;

}  // namespace krpc::node
