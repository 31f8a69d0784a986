// ConnectionLife: the part of an accepted server connection that is the same for every
// protocol (krpc framing, gRPC over HTTP/2, streams to come): the idle tick (the idle kick, the
// protocol's own per-tick checks, giving back idle buffers), close-after-flush with an
// optional linger, rate-limited protocol-error logging, and the close accounting (one reason
// per close, counted once through ServerShared::ConnectionClosed). A protocol connection
// holds one as a member and supplies its operations (ConnectionLife::Ops), in the spirit
// of brpc's Protocol table.
//
// Threading: the connection's I/O thread only. Lifetime: the asynchronous waits hold the
// connection through Ops::LifeRef (an aliasing shared_ptr), never a raw pointer.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <array>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "krpc/net/stream.h"
#include "server_shared.h"

namespace krpc::node {

class ConnectionLife {
 public:
  using Clock = std::chrono::steady_clock;

  // What a protocol supplies. Every operation runs on the connection's thread.
  class Ops {
   public:
    // An owning reference to the connection's ConnectionLife (aliasing the connection).
    virtual std::shared_ptr<ConnectionLife> LifeRef() = 0;
    virtual net::Stream& Transport() = 0;
    // Sends what is queued. True when nothing is left to send (then OutputDrained may not be
    // called); false when the protocol calls ConnectionLife::OutputDrained once it is.
    virtual bool FlushOutput() = 0;
    virtual Clock::time_point LastReceived() const = 0;
    // Calls or streams open: an otherwise silent connection is not idle.
    virtual bool HasWork() const = 0;
    // The protocol's own checks each tick (e.g. a frame begun too long ago); false when it
    // closed the connection.
    virtual bool OnTick(Clock::time_point now) = 0;
    virtual void ReleaseIdleBuffers() = 0;
    // Before an idle close: queues a goodbye (an HTTP/2 GOAWAY) and returns true, or false
    // when the protocol has nothing to say (the connection then closes at once).
    virtual bool QueueIdleGoodbye() = 0;
    // The connection closed: release what the protocol holds, cancel unfinished calls.
    virtual void OnClosed() = 0;

   protected:
    ~Ops() = default;
  };

  struct Config {
    std::string_view kind;            // "krpc", "HTTP/2": in log lines
    std::chrono::milliseconds tick;   // period of the idle tick
    bool linger = false;              // after the last write: shut down sending, drain input
  };

  ConnectionLife(Ops& protocol, std::shared_ptr<ServerShared> shared,
                 boost::asio::io_context::executor_type executor, Config config);
  ConnectionLife(const ConnectionLife&) = delete;
  ConnectionLife& operator=(const ConnectionLife&) = delete;

  // Serving begins: starts the idle tick. `id` and `peer` name the connection in logs.
  void Start(uint64_t id, std::string peer);
  // Reading goes on while neither closing nor closed.
  bool reading() const { return !closing_ && !closed_; }
  bool closing() const { return closing_; }
  bool closed() const { return closed_; }

  // A protocol error: counted (frame_errors, OnFrameError(reason)), logged rate-limited, and
  // the connection closes once what is queued (an error reply, a GOAWAY) is written.
  void ProtocolError(std::string_view reason, std::string_view detail);
  // Stops reading; closes (or lingers) once the output is written. The first reason given
  // is the close's reason, whatever ends it later.
  void CloseAfterFlush(std::string reason);
  // The protocol wrote everything it had queued.
  void OutputDrained();
  // Closes now (idempotent). A reason given earlier by CloseAfterFlush wins.
  void Close(std::string_view reason);

 private:
  void ArmIdleTimer();
  bool Tick();
  void Linger();
  void DiscardInput();

  Ops& protocol_;  // the connection this is a member of (same lifetime)
  std::shared_ptr<ServerShared> shared_;
  const Config config_;
  boost::asio::steady_timer timer_;  // idle tick, then the linger bound
  uint64_t id_ = 0;
  std::string peer_;
  std::string close_reason_;  // set by CloseAfterFlush
  bool closing_ = false;      // no more reads; close once the output is written
  bool closed_ = false;
  bool lingering_ = false;    // output written and shut down; discarding input until EOF
  std::unique_ptr<std::array<char, 16384>> discard_;
};

}  // namespace krpc::node
