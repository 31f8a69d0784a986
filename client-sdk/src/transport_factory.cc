#include "transport_factory.h"

#include "grpc_transport.h"
#include "krpc_transport.h"

namespace krpc::impl {

std::shared_ptr<Transport> MakeTransport(boost::asio::any_io_executor executor, Endpoint endpoint,
                                         ConnectionOptions options, std::weak_ptr<TransportListener> listener,
                                         std::shared_ptr<net::TlsContext> tls) {
  if (options.protocol == WireProtocol::kGrpc) {
    return std::make_shared<GrpcTransport>(executor, std::move(endpoint), options, std::move(listener), std::move(tls));
  }
  return std::make_shared<KrpcTransport>(executor, std::move(endpoint), options, std::move(listener), std::move(tls));
}

}  // namespace krpc::impl
