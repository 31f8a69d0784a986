// H2Connection's responses and requests that stay open (streams): headers now, data as it
// comes, trailers (or, for a request, END_STREAM) at the end. nghttp2 pulls the data through ReadBody as the peer's window allows;
// an empty buffer defers the stream until the next write resumes it.
#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <cstring>

#include "h2_callbacks.h"
#include "krpc/impl/thread_check.h"
#include "krpc/net/h2_connection.h"

namespace krpc::net {

long H2Connection::ReadBody(int32_t stream_id, uint8_t* buf, size_t length, uint32_t* flags) {
  auto it = outgoing_.find(stream_id);
  if (it == outgoing_.end()) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  Outgoing& o = it->second;
  if (o.open && o.offset == o.body.size()) {
    o.deferred = true;  // SendData or CloseResponse resumes it
    return NGHTTP2_ERR_DEFERRED;
  }
  const size_t n = std::min(length, o.body.size() - o.offset);
  std::memcpy(buf, o.body.data() + o.offset, n);
  o.offset += n;
  if (o.open) {
    if (o.offset == o.body.size()) {
      o.body.clear();  // keeps its capacity for the next message
      o.offset = 0;
    }
    OnSendProgress(stream_id);
  } else if (o.offset == o.body.size()) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    if (!o.trailers.empty()) {
      *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
      const auto nv = ToNv(o.trailers);
      nghttp2_submit_trailer(session_, stream_id, nv.data(), nv.size());
    }
    std::string().swap(o.body);
  }
  return static_cast<long>(n);
}

bool H2Connection::OpenResponse(int32_t stream_id, const Headers& headers) {
  KRPC_ASSERT_IN_LOOP(OwningThread());
  const auto nv = ToNv(headers);
  Outgoing& o = outgoing_[stream_id];
  o = Outgoing{};
  o.open = true;
  nghttp2_data_provider prd{};
  prd.read_callback = &H2Callbacks::ReadBody;
  if (nghttp2_submit_response(session_, stream_id, nv.data(), nv.size(), &prd) != 0) {
    outgoing_.erase(stream_id);
    return false;
  }
  FlushSoon();
  return true;
}

int32_t H2Connection::OpenRequest(const Headers& headers) {
  KRPC_ASSERT_IN_LOOP(OwningThread());
  const auto nv = ToNv(headers);
  nghttp2_data_provider prd{};
  prd.read_callback = &H2Callbacks::ReadBody;
  const int32_t id = nghttp2_submit_request(session_, nullptr, nv.data(), nv.size(), &prd, nullptr);
  if (id > 0) {
    Outgoing& o = outgoing_[id];
    o.open = true;
    ++open_streams_;
    FlushSoon();
  }
  return id;
}

bool H2Connection::SendData(int32_t stream_id, std::string_view bytes) {
  KRPC_ASSERT_IN_LOOP(OwningThread());
  auto it = outgoing_.find(stream_id);
  if (it == outgoing_.end() || !it->second.open) return false;
  it->second.body.append(bytes);
  return Resume(stream_id, it->second);
}

bool H2Connection::CloseResponse(int32_t stream_id, Headers trailers) {
  KRPC_ASSERT_IN_LOOP(OwningThread());
  auto it = outgoing_.find(stream_id);
  if (it == outgoing_.end() || !it->second.open) return false;
  it->second.open = false;
  it->second.trailers = std::move(trailers);
  return Resume(stream_id, it->second);
}

bool H2Connection::Resume(int32_t stream_id, Outgoing& o) {
  if (o.deferred) {
    o.deferred = false;
    if (nghttp2_session_resume_data(session_, stream_id) != 0) return false;
  }
  FlushSoon();
  return true;
}

void H2Connection::Consume(int32_t stream_id, size_t n) {
  KRPC_ASSERT_IN_LOOP(OwningThread());
  if (n == 0) return;
  // nghttp2 counts the connection's window first and skips the stream's once it is gone.
  nghttp2_session_consume(session_, stream_id, n);
  FlushSoon();
}

size_t H2Connection::unsent_bytes(int32_t stream_id) const {
  auto it = outgoing_.find(stream_id);
  return it == outgoing_.end() ? 0 : it->second.body.size() - it->second.offset;
}

}  // namespace krpc::net
