// H2Callbacks: nghttp2's session callbacks for H2Connection (its friend), each forwarding to
// one of the connection's hooks; `user` is the connection. Internal to net/.
#pragma once

#include <nghttp2/nghttp2.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "krpc/net/h2_connection.h"

namespace krpc::net {

struct H2Callbacks {
  // A callback table for nghttp2_session_*_new2 (free it with nghttp2_session_callbacks_del).
  static nghttp2_session_callbacks* Make();

  static int OnBeginHeaders(nghttp2_session*, const nghttp2_frame* frame, void* user);
  static int OnHeader(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name, size_t namelen,
                      const uint8_t* value, size_t valuelen, uint8_t flags, void* user);
  static int OnFrameRecv(nghttp2_session*, const nghttp2_frame* frame, void* user);
  static int OnDataChunk(nghttp2_session* session, uint8_t flags, int32_t stream_id, const uint8_t* data, size_t len,
                         void* user);
  static int OnFrameSend(nghttp2_session*, const nghttp2_frame* frame, void* user);
  static int OnStreamClose(nghttp2_session*, int32_t stream_id, uint32_t error_code, void* user);
  static ssize_t ReadBody(nghttp2_session*, int32_t stream_id, uint8_t* buf, size_t length, uint32_t* flags,
                          nghttp2_data_source*, void* user);
};

// nghttp2's name-value view of `headers` (valid while `headers` lives).
std::vector<nghttp2_nv> ToNv(const Headers& headers);

}  // namespace krpc::net
