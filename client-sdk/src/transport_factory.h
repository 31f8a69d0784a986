// MakeTransport: a client transport speaking options.protocol (krpc framing, or gRPC over
// HTTP/2), over TLS when `tls` is set. The one place that knows every protocol's transport.
#pragma once

#include <memory>

#include "transport.h"

namespace krpc::impl {

std::shared_ptr<Transport> MakeTransport(boost::asio::any_io_executor executor, Endpoint endpoint,
                                         ConnectionOptions options, std::weak_ptr<TransportListener> listener,
                                         std::shared_ptr<net::TlsContext> tls = nullptr);

}  // namespace krpc::impl
