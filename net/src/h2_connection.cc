#include "krpc/net/h2_connection.h"

#include <nghttp2/nghttp2.h>

#include <array>
#include <cstring>

#include "h2_callbacks.h"
#include "krpc/impl/thread_check.h"

namespace krpc::net {
namespace asio = boost::asio;

namespace {
constexpr size_t kScratch = 64 * 1024;
// The first slice of a read handed to nghttp2 before what it produced is sent (then 2x, 4x...).
constexpr size_t kFirstRecvSlice = 1024;
// A write buffer up to this size is kept between writes (a busy connection's bursts, e.g. 16
// calls of 16 KiB, reuse it instead of faulting in fresh pages for every write); larger ones
// (a big message) are freed at once, and every one is freed when the connection idles.
constexpr size_t kKeptWriteBuffer = 1024 * 1024;

}  // namespace

H2Connection::H2Connection(Stream stream, Role role, H2Settings settings,
                           std::shared_ptr<const void> keep_alive)
    : keep_alive_(std::move(keep_alive)), stream_(std::move(stream)), role_(role), settings_(settings) {
  nghttp2_session_callbacks* cbs = H2Callbacks::Make();
  nghttp2_option* opt = nullptr;
  nghttp2_option_new(&opt);
  nghttp2_option_set_max_send_header_block_length(opt, 1u << 20);
  if (settings.manual_window) nghttp2_option_set_no_auto_window_update(opt, 1);
  if (role == Role::kServer) {
    nghttp2_session_server_new2(&session_, cbs, this, opt);
  } else {
    nghttp2_session_client_new2(&session_, cbs, this, opt);
  }
  nghttp2_option_del(opt);
  nghttp2_session_callbacks_del(cbs);
}

H2Connection::~H2Connection() { nghttp2_session_del(session_); }

void H2Connection::Start() {
  KRPC_ASSERT_IN_LOOP(OwningThread());
  const nghttp2_settings_entry iv[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, settings_.max_concurrent_streams},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, settings_.initial_window_size},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, settings_.max_header_list_size},
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
  };
  const size_t n = role_ == Role::kServer ? 3 : 4;  // ENABLE_PUSH is a client setting
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, iv, n);
  nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0,
                                        static_cast<int32_t>(settings_.connection_window_size));
  started_ = true;
  last_recv_ = Clock::now();
  Flush();
  WaitReadable();
}

void H2Connection::WaitReadable() {
  stream_.AsyncWaitReadable([self = shared_from_this()](const boost::system::error_code& ec) { self->OnReadable(ec); });
}

// Reads what has arrived (a few times, while there is more) and hands it to nghttp2, which
// runs the hooks; then writes what it produced and waits for more.
void H2Connection::OnReadable(const boost::system::error_code& ec) {
  KRPC_ASSERT_IN_LOOP(OwningThread());
  if (!Reading()) return;
  if (ec) return OnReadFailed(ec);
  static thread_local std::array<char, kScratch> scratch;
  for (int round = 0; round < 4; ++round) {
    boost::system::error_code rec;
    const size_t n = stream_.ReadSome(scratch.data(), scratch.size(), rec);
    if (rec == asio::error::would_block || rec == asio::error::try_again) break;
    if (rec) return OnReadFailed(rec);
    last_recv_ = Clock::now();
    OnBytesRead(n);
    // nghttp2 takes the bytes in growing slices, and what each slice produced (a server's
    // answers, a client's next requests) is sent before the next: the peer starts on the first
    // answers while this side handles the rest, as FramedConnection::FlushSoon does for krpc.
    size_t slice = kFirstRecvSlice;
    for (size_t off = 0; off < n;) {
      const size_t len = std::min(slice, n - off);
      in_recv_ = true;
      const auto rv = nghttp2_session_mem_recv(session_, reinterpret_cast<const uint8_t*>(scratch.data() + off), len);
      in_recv_ = false;
      if (rv < 0) {
        OnSessionError(nghttp2_strerror(static_cast<int>(rv)));
        return;
      }
      if (!Reading()) return;
      off += len;
      if (off < n) {
        Flush();
        slice = std::min(slice * 2, kScratch);
      }
    }
    if (n < scratch.size()) break;
    // More is waiting: send what these frames produced first (a client's next requests, a
    // server's answers), so the peer works while we read on. Flushing only after the whole
    // burst made a client and a node take turns: at 16 KiB, 16 calls went out together, came
    // back together, and neither side overlapped the other.
    Flush();
  }
  Flush();
  if (Reading()) WaitReadable();
}

void H2Connection::Flush() {
  KRPC_ASSERT_IN_LOOP(OwningThread());
  // Not before Start() (a client's socket may not be connected yet; what is submitted waits
  // in nghttp2's queues), and not from a hook that mem_send runs.
  if (!started_ || write_in_progress_ || in_flush_) return;
  writing_.clear();
  for (;;) {
    const uint8_t* data = nullptr;
    in_flush_ = true;
    const auto n = nghttp2_session_mem_send(session_, &data);
    in_flush_ = false;
    if (n < 0) {
      OnSessionError(nghttp2_strerror(static_cast<int>(n)));
      return;
    }
    if (n == 0) break;
    writing_.insert(writing_.end(), reinterpret_cast<const char*>(data), reinterpret_cast<const char*>(data) + n);
    if (writing_.size() >= (1u << 20)) break;  // send a large response in slices
  }
  if (writing_.empty()) {
    OnOutputDrained();
    return;
  }
  // What the socket takes now is written here; the rest (or TLS records the socket did not
  // take) goes through the reactor, and a failed write is reported by that asynchronous write.
  if (const size_t n = stream_.WriteNow(writing_); n > 0) OnBytesWritten(n);
  if (writing_.empty() && !stream_.output_pending()) return Flush();  // the next slice, or OnOutputDrained
  write_in_progress_ = true;
  stream_.AsyncWriteAll(writing_.data(), writing_.size(),
                        [self = shared_from_this()](const boost::system::error_code& ec, size_t n) { self->OnWrite(ec, n); });
}

void H2Connection::OnWrite(const boost::system::error_code& ec, size_t n) {
  write_in_progress_ = false;
  OnBytesWritten(n);
  if (writing_.capacity() > kKeptWriteBuffer) std::vector<char>().swap(writing_);
  if (ec) return OnWriteFailed(ec);
  Flush();
}

bool H2Connection::SubmitResponse(int32_t stream_id, const Headers& headers, std::string body, Headers trailers) {
  KRPC_ASSERT_IN_LOOP(OwningThread());
  const auto nv = ToNv(headers);
  int rv;
  if (body.empty() && trailers.empty()) {
    rv = nghttp2_submit_response(session_, stream_id, nv.data(), nv.size(), nullptr);
  } else {
    outgoing_[stream_id] = Outgoing{std::move(body), 0, std::move(trailers)};
    nghttp2_data_provider prd{};
    prd.read_callback = &H2Callbacks::ReadBody;
    rv = nghttp2_submit_response(session_, stream_id, nv.data(), nv.size(), &prd);
    if (rv != 0) outgoing_.erase(stream_id);
  }
  if (rv == 0) FlushSoon();
  return rv == 0;
}

int32_t H2Connection::SubmitRequest(const Headers& headers, std::string body) {
  KRPC_ASSERT_IN_LOOP(OwningThread());
  const auto nv = ToNv(headers);
  nghttp2_data_provider prd{};
  prd.read_callback = &H2Callbacks::ReadBody;
  const int32_t id = nghttp2_submit_request(session_, nullptr, nv.data(), nv.size(), &prd, nullptr);
  if (id > 0) {
    outgoing_[id] = Outgoing{std::move(body), 0, {}};
    ++open_streams_;
    FlushSoon();
  }
  return id;
}

void H2Connection::SubmitPing() {
  nghttp2_submit_ping(session_, NGHTTP2_FLAG_NONE, nullptr);
  FlushSoon();
}

void H2Connection::ResetStream(int32_t stream_id, uint32_t error_code) {
  nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, stream_id, error_code);
  FlushSoon();
}

void H2Connection::SubmitGoaway(uint32_t error_code, std::string_view debug, int32_t last_stream_id) {
  goaway_submitted_ = true;
  if (last_stream_id < 0) last_stream_id = nghttp2_session_get_last_proc_stream_id(session_);
  nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE, last_stream_id, error_code,
                        reinterpret_cast<const uint8_t*>(debug.data()), debug.size());
  FlushSoon();
}

void H2Connection::SubmitShutdownNotice(uint64_t ping_opaque) {
  // nghttp2 sends PINGs ahead of a GOAWAY queued with them; the PING must come behind the
  // notice (its ACK then proves the notice was read), so it is submitted once the notice is out.
  notice_ping_ = ping_opaque;
  notice_ping_pending_ = true;
  nghttp2_submit_shutdown_notice(session_);
  FlushSoon();
}

void H2Connection::ReleaseIdleBuffers() {
  if (!write_in_progress_) std::vector<char>().swap(writing_);
}

bool H2Connection::SessionDone() const {
  return nghttp2_session_want_read(session_) == 0 && nghttp2_session_want_write(session_) == 0;
}

uint32_t H2Connection::peer_max_concurrent_streams() const {
  return nghttp2_session_get_remote_settings(session_, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
}

}  // namespace krpc::net
