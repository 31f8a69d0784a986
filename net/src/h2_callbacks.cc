// nghttp2's callbacks for H2Connection, forwarded to the connection's hooks.
#include "h2_callbacks.h"

#include <nghttp2/nghttp2.h>

#include <cstring>
#include <string>

#include "krpc/net/h2_connection.h"

namespace krpc::net {
namespace {
H2Connection* Self(void* user) { return static_cast<H2Connection*>(user); }
std::string_view View(const uint8_t* p, size_t n) { return {reinterpret_cast<const char*>(p), n}; }
}  // namespace

nghttp2_session_callbacks* H2Callbacks::Make() {
  nghttp2_session_callbacks* cbs = nullptr;
  nghttp2_session_callbacks_new(&cbs);
  nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, &H2Callbacks::OnBeginHeaders);
  nghttp2_session_callbacks_set_on_header_callback(cbs, &H2Callbacks::OnHeader);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, &H2Callbacks::OnFrameRecv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, &H2Callbacks::OnDataChunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, &H2Callbacks::OnStreamClose);
  nghttp2_session_callbacks_set_on_frame_send_callback(cbs, &H2Callbacks::OnFrameSend);
  return cbs;
}

int H2Callbacks::OnBeginHeaders(nghttp2_session*, const nghttp2_frame* frame, void* user) {
  if (frame->hd.type != NGHTTP2_HEADERS) return 0;
  if (frame->headers.cat == NGHTTP2_HCAT_REQUEST) ++Self(user)->open_streams_;
  Self(user)->OnBeginHeaders(frame->hd.stream_id);
  return 0;
}

int H2Callbacks::OnHeader(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name, size_t namelen,
                            const uint8_t* value, size_t valuelen, uint8_t, void* user) {
  if (frame->hd.type != NGHTTP2_HEADERS) return 0;
  if (!Self(user)->OnHeader(frame->hd.stream_id, View(name, namelen), View(value, valuelen))) {
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // resets this stream only
  }
  return 0;
}

int H2Callbacks::OnFrameRecv(nghttp2_session*, const nghttp2_frame* frame, void* user) {
  switch (frame->hd.type) {
    case NGHTTP2_HEADERS:
      if (frame->headers.cat == NGHTTP2_HCAT_REQUEST) Self(user)->OnRequestHeaders(frame->hd.stream_id);
      [[fallthrough]];
    case NGHTTP2_DATA:
      if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) Self(user)->OnStreamEnd(frame->hd.stream_id);
      break;
    case NGHTTP2_GOAWAY:
      Self(user)->OnGoaway(frame->goaway.last_stream_id, frame->goaway.error_code);
      break;
    case NGHTTP2_PING:
      if (frame->hd.flags & NGHTTP2_FLAG_ACK) {
        uint64_t opaque = 0;
        std::memcpy(&opaque, frame->ping.opaque_data, sizeof opaque);
        Self(user)->OnPingAck(opaque);
      }
      break;
    default:
      break;
  }
  return 0;
}

int H2Callbacks::OnDataChunk(nghttp2_session* session, uint8_t, int32_t stream_id, const uint8_t* data, size_t len,
                       void* user) {
  if (!Self(user)->OnData(stream_id, View(data, len))) {
    nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, stream_id, NGHTTP2_CANCEL);
  }
  return 0;
}

int H2Callbacks::OnFrameSend(nghttp2_session*, const nghttp2_frame* frame, void* user) {
  auto* self = Self(user);
  // nghttp2 ends a session the peer broke with GOAWAY(error); we did not ask for it.
  if (frame->hd.type == NGHTTP2_GOAWAY && frame->goaway.error_code != NGHTTP2_NO_ERROR && !self->goaway_submitted_) {
    self->OnSessionError(std::string("peer broke HTTP/2: ") + nghttp2_http2_strerror(frame->goaway.error_code));
  }
  if (frame->hd.type == NGHTTP2_GOAWAY && self->notice_ping_pending_) {  // the shutdown notice
    self->notice_ping_pending_ = false;
    uint8_t opaque[8];
    std::memcpy(opaque, &self->notice_ping_, sizeof opaque);
    nghttp2_submit_ping(self->session_, NGHTTP2_FLAG_NONE, opaque);  // sent by the same Flush
  }
  return 0;
}

int H2Callbacks::OnStreamClose(nghttp2_session*, int32_t stream_id, uint32_t error_code, void* user) {
  auto* self = Self(user);
  if (self->open_streams_ > 0) --self->open_streams_;
  self->outgoing_.erase(stream_id);
  self->OnStreamClosed(stream_id, error_code);
  return 0;
}

ssize_t H2Callbacks::ReadBody(nghttp2_session*, int32_t stream_id, uint8_t* buf, size_t length, uint32_t* flags,
                        nghttp2_data_source*, void* user) {
  return Self(user)->ReadBody(stream_id, buf, length, flags);
}

std::vector<nghttp2_nv> ToNv(const Headers& headers) {
  std::vector<nghttp2_nv> nv;
  nv.reserve(headers.size());
  for (const auto& [k, v] : headers) {
    nv.push_back({reinterpret_cast<uint8_t*>(const_cast<char*>(k.data())),
                  reinterpret_cast<uint8_t*>(const_cast<char*>(v.data())), k.size(), v.size(), NGHTTP2_NV_FLAG_NONE});
  }
  return nv;
}

}  // namespace krpc::net
