#include "krpc/net/framed_connection.h"

#include "krpc/impl/thread_check.h"
#include "krpc/wire.pb.h"

namespace krpc::net {
namespace asio = boost::asio;
using codec::DecodeStatus;
using codec::FrameType;

namespace {
// A write buffer up to this size is kept between writes (a busy connection's bursts reuse it
// instead of faulting in fresh pages for every write); larger ones (a big message) are freed
// at once, and both buffers are freed when the connection idles (ReleaseIdleBuffers).
constexpr size_t kKeptWriteBuffer = 1024 * 1024;
}  // namespace

FramedConnection::FramedConnection(Stream stream, codec::Limits limits,
                                   std::shared_ptr<codec::MemoryBudget> budget, std::shared_ptr<const void> keep_alive)
    : keep_alive_(std::move(keep_alive)), stream_(std::move(stream)), reader_(limits, std::move(budget)) {}

FramedConnection::~FramedConnection() = default;

void FramedConnection::StartReading() {
  // Wait for readability, then read into the thread's scratch buffer: an idle connection
  // holds no read buffer at all (only a partly received frame keeps bytes of its own).
  stream_.AsyncWaitReadable([self = shared_from_this()](const boost::system::error_code& ec) { self->OnReadable(ec); });
}

// One read batch: read what has arrived, handle every complete frame in it, keep a partial
// frame's bytes, then send the batch's replies in one write and wait for more.
void FramedConnection::OnReadable(const boost::system::error_code& ec) {
  KRPC_ASSERT_IN_LOOP(OwningThread());
  if (!Reading()) return;
  if (ec) {
    reader_.EndBatch();
    OnReadFailed(ec);
    return;
  }
  boost::system::error_code rec;
  size_t n = 0;
  const auto status = reader_.ReadSome([&](char* p, size_t cap) { return stream_.ReadSome(p, cap, rec); }, &n);
  if (status == codec::FrameReader::ReadStatus::kOverBudget) return OnOverBudget();
  if (rec == asio::error::would_block || rec == asio::error::try_again) {
    reader_.EndBatch();
    StartReading();
    return;
  }
  if (rec) {
    reader_.EndBatch();
    OnReadFailed(rec);
    return;
  }
  last_recv_ = Clock::now();
  OnBytesRead(n);
  in_read_batch_ = true;
  queued_in_batch_ = 0;
  batch_chunk_ = kFirstBatchChunk;
  for (;;) {
    const codec::DecodeResult r = reader_.Next();
    if (r.status == DecodeStatus::kNeedMore) break;
    if (r.status == DecodeStatus::kError) {
      OnDecodeError(r);
      break;
    }
    const FrameType type = r.frame.prefix.type;
    const bool go_on = type == FrameType::kPing ? HandlePing(r.frame) : OnFrame(r.frame);
    if (!go_on) break;
  }
  in_read_batch_ = false;
  if (!reader_.EndBatch()) return OnOverBudget();
  Flush();
  if (Reading()) StartReading();
}

bool FramedConnection::HandlePing(const codec::FrameView& frame) {
  wire::PingHeader ping;
  if (!ping.ParseFromArray(frame.header.data(), static_cast<int>(frame.header.size()))) {
    OnProtocolError("malformed_header", "unparsable PING header");
    return false;
  }
  codec::AppendFrame(out_, FrameType::kPong, ping, nullptr);
  return true;
}

void FramedConnection::Flush() {
  queued_in_batch_ = 0;
  if (write_in_progress_ || out_.empty() || !CanWrite()) return;
  for (;;) {
    if (const size_t n = stream_.WriteNow(out_); n > 0) OnBytesWritten(n);
    if (!out_.empty() || stream_.output_pending()) break;
    // The socket took everything at once: frames that waited for room may follow now (the
    // write that frees room is not always an asynchronous one).
    if (!MadeRoom()) return OnOutputDrained();
    if (write_in_progress_) return;  // what it queued is on its way already
    if (out_.empty() || !CanWrite()) return OnOutputDrained();
  }
  // The rest (or TLS records the socket did not take) goes through the reactor; a failed
  // write is reported by that asynchronous write, outside the caller's code.
  write_in_progress_ = true;
  writing_.swap(out_);
  stream_.AsyncWriteAll(writing_.data(), writing_.size(),
                        [self = shared_from_this()](const boost::system::error_code& ec, size_t n) { self->OnWrite(ec, n); });
}

bool FramedConnection::MadeRoom() {
  if (in_write_room_) return false;  // a Flush from inside OnWriteRoom: the outer one goes on
  in_write_room_ = true;
  OnWriteRoom();
  in_write_room_ = false;
  return true;
}

void FramedConnection::OnWrite(const boost::system::error_code& ec, size_t n) {
  write_in_progress_ = false;
  OnBytesWritten(n);
  if (writing_.capacity() > kKeptWriteBuffer) {
    std::vector<char>().swap(writing_);  // do not keep a large message's buffer around
  } else {
    writing_.clear();
  }
  if (ec) {
    OnWriteFailed(ec);
    return;
  }
  MadeRoom();
  if (write_in_progress_) return;  // what OnWriteRoom queued is on its way already
  if (!out_.empty()) {
    Flush();
  } else {
    OnOutputDrained();
  }
}

void FramedConnection::ReleaseIdleBuffers() {
  if (!output_idle()) return;
  std::vector<char>().swap(out_);
  std::vector<char>().swap(writing_);
}

}  // namespace krpc::net
