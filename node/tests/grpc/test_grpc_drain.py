"""The gRPC drain in two steps (RFC 9113 section 6.8), seen frame by frame by a raw HTTP/2 client
(frames built here, headers by Debian's python3-hpack): a shutdown notice (GOAWAY with the
largest stream id) and a PING; a stream the client opened before it saw them is served; only
after the PING's ACK does the final GOAWAY name the last stream, and then the node closes.
A client library cannot show this: after a GOAWAY it opens no stream, which is the point."""
import signal
import socket
import struct

import hpack

from examples import echo_pb2

ECHO = "/krpc.examples.EchoService/Echo"
DATA, HEADERS, SETTINGS, PING, GOAWAY = 0x0, 0x1, 0x4, 0x6, 0x7
END_STREAM, ACK, END_HEADERS = 0x1, 0x1, 0x4


def frame(kind, flags, stream_id, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream_id) + payload


class RawH2:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.encoder, self.decoder = hpack.Encoder(), hpack.Decoder()
        self.buf = b""
        self.sock.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(SETTINGS, 0, 0))

    def request(self, stream_id, payload):
        """The bytes of a unary Echo call on `stream_id` (sent by the caller)."""
        headers = self.encoder.encode([(":method", "POST"), (":scheme", "http"), (":path", ECHO),
                                       (":authority", "krpc"), ("content-type", "application/grpc"),
                                       ("te", "trailers")])
        msg = echo_pb2.EchoRequest(payload=payload).SerializeToString()
        return (frame(HEADERS, END_HEADERS, stream_id, headers) +
                frame(DATA, END_STREAM, stream_id, b"\x00" + struct.pack(">I", len(msg)) + msg))

    def next_frame(self):
        """(type, flags, stream id, payload) of the next frame but SETTINGS, which it
        acknowledges; None once the node closed the connection."""
        while True:
            while len(self.buf) < 9 or len(self.buf) < 9 + int.from_bytes(self.buf[:3], "big"):
                data = self.sock.recv(65536)
                if not data:
                    return None
                self.buf += data
            n = int.from_bytes(self.buf[:3], "big")
            kind, flags = self.buf[3], self.buf[4]
            stream_id = struct.unpack(">I", self.buf[5:9])[0] & 0x7FFFFFFF
            payload, self.buf = self.buf[9:9 + n], self.buf[9 + n:]
            if kind == SETTINGS:
                if not flags & ACK:
                    self.sock.sendall(frame(SETTINGS, ACK, 0))
                continue
            return kind, flags, stream_id, payload

    def until(self, kind, stream_id=None):
        """The next frame of this kind (and stream), skipping others; None if the node closed."""
        while (f := self.next_frame()) is not None:
            if f[0] == kind and (stream_id is None or f[2] == stream_id):
                return f
        return None

    def rest(self):
        """Every frame until the node closes the connection, header blocks decoded in order:
        (type, flags, stream id, payload or decoded headers)."""
        out = []
        while (f := self.next_frame()) is not None:
            out.append(f[:3] + (dict(self.decoder.decode(f[3])),) if f[0] == HEADERS else f)
        return out

    def grpc_status(self, stream_id):
        """The grpc-status of the stream's trailers (its last HEADERS, which ends it)."""
        while (f := self.until(HEADERS, stream_id)) is not None:
            if f[1] & END_STREAM:
                return dict(self.decoder.decode(f[3])).get("grpc-status")
            self.decoder.decode(f[3])  # the response headers: keep the decoder's table in step
        return None


def test_a_stream_opened_before_the_final_goaway_is_served_then_the_node_closes(fresh_node):
    h2 = RawH2(fresh_node.port)
    h2.sock.sendall(h2.request(1, b"before"))
    assert h2.grpc_status(1) == "0"

    fresh_node.proc.send_signal(signal.SIGTERM)
    notice = h2.until(GOAWAY)
    assert notice is not None, "no GOAWAY"
    last_stream, error = struct.unpack(">II", notice[3][:8])
    assert (last_stream, error) == (0x7FFFFFFF, 0), "first a shutdown notice: no new streams, please"
    ping = h2.until(PING)
    assert ping is not None and not ping[1] & ACK, "a PING follows the notice"

    # A stream this client opened before it read the notice, then the PING's ACK.
    h2.sock.sendall(h2.request(3, b"crossing"))
    h2.sock.sendall(frame(PING, ACK, 0, ping[3]))
    frames = h2.rest()  # up to the close
    trailers = [f[3] for f in frames if f[0] == HEADERS and f[2] == 3 and f[1] & END_STREAM]
    assert trailers and trailers[0].get("grpc-status") == "0", ("a stream below the final GOAWAY's last id "
                                                                "is served", frames)
    finals = [struct.unpack(">II", f[3][:8]) for f in frames if f[0] == GOAWAY]
    assert finals == [(3, 0)], ("one final GOAWAY, naming the last stream; then the close", frames)
    assert fresh_node.proc.wait(60) == 0
    assert fresh_node.wait_for_log("drain complete")
