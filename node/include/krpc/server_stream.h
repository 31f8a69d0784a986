// Streaming calls on the server: the generic (dynamic-message) API. A service with streaming
// methods implements StreamService beside google::protobuf::Service (protoc-gen-krpc's
// generated bases do, with coroutine shapes on top: krpc/coroutine_stream.h). Every kind of
// streaming method (server, client, bidi) is served the same way: the handler reads the
// client's messages with Read, writes its own with Write, and ends the call with Finish.
//
//   void CallStream(const MethodDescriptor* m, std::shared_ptr<krpc::ServerStream> s) override {
//     auto req = std::make_shared<Req>();
//     s->Read(req.get(), [s, req](bool ok) {          // on the connection's I/O thread
//       if (!ok) return s->Finish(krpc::Status::Ok());
//       ...
//     });
//   }
//
// Flow control: Read hands over one message the client sent; the client may send more only
// as the handler reads (its window is returned as messages are consumed). Write's callback
// runs once the stream's unsent bytes are below a bound (64 KiB), so a client that stops
// reading stops the handler instead of filling the node's memory.
//
// Threading: Read, Write and Finish may be called from any thread; their callbacks run on the
// I/O thread that owns the call's connection. One Read and one Write may be outstanding at a
// time (as in gRPC). The stream object stays valid while the handler holds its shared_ptr.
#pragma once

#include <functional>
#include <memory>

#include "krpc/server_controller.h"
#include "krpc/status.h"

namespace google::protobuf {
class Message;
class MethodDescriptor;
}  // namespace google::protobuf

namespace krpc {

class ServerStream {
 public:
  virtual ~ServerStream() = default;

  // The call: metadata, deadline, peer, cancellation, response metadata (set before the first
  // Write to send it with the response headers, or before Finish).
  virtual ServerController& controller() = 0;
  // The client's next message, parsed into `into` (kept alive by the caller until `done`
  // runs). done(true): a message was read; done(false): no more (the client half-closed, or
  // the call ended: cancel, deadline, connection closed). A message that does not parse as
  // `into`'s type ends the call INVALID_ARGUMENT and reads false.
  virtual void Read(google::protobuf::Message* into, std::function<void(bool ok)> done) = 0;
  // Sends `message` to the client (serialized now). done(true) once the stream can take the
  // next one; done(false) when the call ended and the message was not sent.
  virtual void Write(const google::protobuf::Message& message, std::function<void(bool ok)> done) = 0;
  // Ends the call with `status` (sent in trailers). Once; messages written before it are sent
  // first. A client-streaming method Writes its one response, then Finishes OK.
  virtual void Finish(Status status) = 0;
};

// Implemented by a service (beside google::protobuf::Service) that has streaming methods.
class StreamService {
 public:
  virtual ~StreamService() = default;
  // A streaming method `method` of this service was called: serve it on `stream`. Runs on an
  // I/O thread (or a handler thread with handler_threads > 0), like a unary handler; return
  // at once and continue in the callbacks. Every call must end with stream->Finish().
  virtual void CallStream(const google::protobuf::MethodDescriptor* method, std::shared_ptr<ServerStream> stream) = 0;
};

}  // namespace krpc
