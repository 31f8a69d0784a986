// FramedConnection: what the client transport and the server connection share. It reads
// frames from the stream in batches (a FrameReader: memory only for bytes received), answers
// PING with PONG, and keeps one coalesced write queue: frames appended while a write is on
// the wire go out together in the next one, and a large write buffer is not kept after use.
// A derived class supplies the protocol (OnFrame) and decides what each failure means.
//
// Threading: one I/O thread owns the connection; every call below and every hook runs there.
// Lifetime: each pending asynchronous operation holds a shared_ptr to the connection, so it
// lives while the stream can still call back. Internal header.
#pragma once

#include <boost/system/error_code.hpp>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "krpc/codec/frame.h"
#include "krpc/codec/frame_reader.h"
#include "krpc/net/stream.h"

namespace krpc::net {

class FramedConnection : public std::enable_shared_from_this<FramedConnection> {
 public:
  using Clock = std::chrono::steady_clock;
  virtual ~FramedConnection();
  FramedConnection(const FramedConnection&) = delete;
  FramedConnection& operator=(const FramedConnection&) = delete;

 protected:
  // `keep_alive` (optional) owns what the socket's io_context needs (e.g. the pool that runs
  // it); it is released after the stream, so the socket never outlives its context.
  FramedConnection(Stream stream, codec::Limits limits,
                   std::shared_ptr<codec::MemoryBudget> budget = nullptr,
                   std::shared_ptr<const void> keep_alive = nullptr);

  // Waits for the next bytes, then runs one read batch (see OnReadable in the .cc).
  void StartReading();
  // Sends everything queued unless a write is on the wire or CanWrite() says no. What the
  // socket takes at once is written here by Stream::WriteNow (OnBytesWritten, and
  // OnOutputDrained when nothing is left, run before Flush returns); the rest goes out through
  // the reactor.
  void Flush();
  // Called after each frame is queued. Outside a read batch it flushes. Inside one, the frames
  // leave in a few growing chunks (after 4 frames, then 8 more, 16 more, up to 64 at a time)
  // instead of one write at the batch's end: the peer starts on the first calls while this
  // side still handles the rest, so both sides work at once (see docs/benchmarks.md).
  void FlushSoon() {
    if (!in_read_batch_) return Flush();
    if (++queued_in_batch_ >= batch_chunk_ || out_.size() >= kBatchChunkBytes) {
      Flush();
      batch_chunk_ = std::min(batch_chunk_ * 2, kMaxBatchChunk);
    }
  }
  // Frames to send are appended here (codec::AppendFrame).
  std::vector<char>& out() { return out_; }
  bool output_idle() const { return !write_in_progress_ && out_.empty(); }
  // Bytes queued that the socket has not taken: the batch on the wire and the frames behind it.
  size_t unsent_bytes() const { return out_.size() + (write_in_progress_ ? writing_.size() : 0); }
  // Whether a frame queued now would leave at once or wait behind at least `bound` unsent
  // bytes. Frames that can be dropped when no longer wanted (a request whose caller gave up, a
  // reply to a cancelled call) wait outside the write buffer while it has no room, and are
  // turned into bytes only in OnWriteRoom: what is queued stays worth sending.
  bool has_write_room(size_t bound) const { return !write_in_progress_ || unsent_bytes() < bound; }
  // True while the frames of one read batch are handled: replies wait for the batch's end
  // and leave in one write.
  bool in_read_batch() const { return in_read_batch_; }
  // Frees the write buffers when nothing is queued (for idle connections).
  void ReleaseIdleBuffers();

  Stream& stream() { return stream_; }
  codec::FrameReader& reader() { return reader_; }
  Clock::time_point last_recv() const { return last_recv_; }
  void set_last_recv(Clock::time_point t) { last_recv_ = t; }

  // --- hooks, all on the owning thread ---
  // True when the calling thread owns the connection (checked in debug builds).
  virtual bool OwningThread() const = 0;
  // False once the connection stops reading (closing or closed).
  virtual bool Reading() const = 0;
  // False while the stream must not be written (not connected yet, closed, failed).
  virtual bool CanWrite() const = 0;
  // A frame other than PING (answered here); false when the connection stopped (ends the batch).
  virtual bool OnFrame(const codec::FrameView& frame) = 0;
  // The bytes are not a valid frame; the connection must end.
  virtual void OnDecodeError(const codec::DecodeResult& r) = 0;
  // A frame that decoded but makes no sense (`reason` is a metric label).
  virtual void OnProtocolError(std::string_view reason, std::string detail) = 0;
  // The peer closed (eof) or the stream failed.
  virtual void OnReadFailed(const boost::system::error_code& ec) = 0;
  // Keeping a partial frame would exceed the shared memory budget.
  virtual void OnOverBudget() = 0;
  virtual void OnWriteFailed(const boost::system::error_code& ec) = 0;
  // Accounting: bytes read in a batch (before its frames are handled) and written.
  virtual void OnBytesRead(size_t n) {}
  virtual void OnBytesWritten(size_t n) {}
  // Everything queued has been written.
  virtual void OnOutputDrained() {}
  // A write finished: frames that waited for room may be queued now (and flushed).
  virtual void OnWriteRoom() {}

 private:
  void OnReadable(const boost::system::error_code& ec);
  bool HandlePing(const codec::FrameView& frame);
  void OnWrite(const boost::system::error_code& ec, size_t n);
  // Runs OnWriteRoom unless it is running already (its frames flush through here); false then.
  bool MadeRoom();

  std::shared_ptr<const void> keep_alive_;  // declared first: destroyed last
  Stream stream_;
  codec::FrameReader reader_;
  std::vector<char> out_;      // frames queued while a write is on the wire
  std::vector<char> writing_;  // the batch on the wire
  static constexpr size_t kFirstBatchChunk = 4;  // frames
  static constexpr size_t kMaxBatchChunk = 64;   // frames
  static constexpr size_t kBatchChunkBytes = 256 * 1024;
  size_t queued_in_batch_ = 0;  // frames queued in this read batch since the last flush
  size_t batch_chunk_ = kFirstBatchChunk;
  bool write_in_progress_ = false;
  bool in_read_batch_ = false;
  bool in_write_room_ = false;
  Clock::time_point last_recv_ = Clock::now();
};

}  // namespace krpc::net
