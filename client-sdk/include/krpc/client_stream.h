// Streaming calls from the client: the generic (dynamic-message) API. Open one with
// Channel::OpenStream; every kind of streaming method (server, client, bidi) is driven the same
// way: Write the requests, WritesDone (the half-close), Read the responses until false, Finish
// for the status. protoc-gen-krpc's typed clients wrap it in coroutines
// (krpc/coroutine_client_stream.h).
//
//   krpc::Controller ctx;                           // metadata, deadline; outlives the stream
//   auto s = channel->OpenStream(method, &ctx);
//   s->Write(req, [](bool ok) { ... });             // ok: the stream takes the next message
//   s->Read(&resp, [](bool ok) { ... });            // false: no more (see Finish)
//   s->WritesDone([](bool) {});
//   s->Finish([](const krpc::Status& st) { ... });  // once the server ended the call
//
// A stream is one attempt on one endpoint, picked by the channel's load balancer when it
// opens. It is retried elsewhere (transparently, or by the retry policy) only while nothing
// was written to the wire or received: after that the call is committed (gRPC's A6 commit
// point). No hedging; no per-try timeout; a deadline only if the Controller sets one (the
// channel's timeout_ms, meant for unary calls, does not apply). Its end counts for the
// endpoint's breaker and outlier detection like a unary call's.
//
// Flow control: a Read hands over one message the server sent; the server may send more only
// as the application reads. Write's callback runs once the stream holds at most 64 KiB unsent.
// Both wires carry streams: krpc's stream frames and gRPC (protocol=grpc).
//
// Threading: any method from any thread; callbacks run on the stream's I/O thread (or, for a
// stream that never reached an endpoint, on the thread that ended it). One Read and one Write
// outstanding at a time.
#pragma once

#include <functional>

#include "krpc/status.h"

namespace google::protobuf {
class Message;
}

namespace krpc {

class ClientStream {
 public:
  virtual ~ClientStream() = default;
  // Sends `message` (serialized now). done(true) once the stream can take the next one;
  // done(false) when the call ended (see Finish) and the message was not sent.
  virtual void Write(const google::protobuf::Message& message, std::function<void(bool ok)> done) = 0;
  // The client's last message was written (END_STREAM). done(false) if the call ended first.
  virtual void WritesDone(std::function<void(bool ok)> done) = 0;
  // The server's next message, parsed into `into` (kept alive until `done`). done(false): no
  // more, the server ended the call (or it failed); Finish gives the status.
  virtual void Read(google::protobuf::Message* into, std::function<void(bool ok)> done) = 0;
  // `done` runs once with the call's status when it has ended (at once if it has).
  virtual void Finish(std::function<void(const Status&)> done) = 0;
  // Cancels the call (RST_STREAM): the server's handler sees a cancel; the status is CANCELLED.
  virtual void Cancel() = 0;
};

}  // namespace krpc
