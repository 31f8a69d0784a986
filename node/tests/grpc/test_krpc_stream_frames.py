"""Streams on the krpc wire, frame by frame from a raw TCP client (frames built here): a stream
opens with REQUEST{stream_kind} and STREAM_ACCEPT, a message beyond the receiver's credit
closes the connection as a protocol error (counted by reason), and frames for a call id never
opened are refused the same way. The node keeps serving other connections throughout."""
import json
import re
import socket
import struct

import grpc

from krpc import wire_pb2 as w
from krpc_procs import wait_until
from testing import test_pb2 as t

REQUEST, RESPONSE, STREAM_ACCEPT, MESSAGE, CREDIT = 1, 2, 7, 8, 9


def varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def field_varint(num, value):
    return varint(num << 3) + varint(value)


def field_bytes(num, data):
    data = data.encode() if isinstance(data, str) else data
    return varint((num << 3) | 2) + varint(len(data)) + data


def frame(ftype, header, body=b""):
    return b"KRPC" + bytes([1, ftype, 0, 0]) + struct.pack(">II", len(header) + len(body), len(header)) + header + body


class RawKrpc:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def next_frame(self):
        """(type, header bytes, body) of the next frame, or None once the node closed."""
        while len(self.buf) < 16 or len(self.buf) < 16 + struct.unpack(">I", self.buf[8:12])[0]:
            data = self.sock.recv(1 << 20)
            if not data:
                return None
            self.buf += data
        total, hlen = struct.unpack(">II", self.buf[8:16])
        ftype = self.buf[5]
        header, body = self.buf[16:16 + hlen], self.buf[16 + hlen:16 + total]
        self.buf = self.buf[16 + total:]
        return ftype, header, body


def frame_errors(node, reason):
    m = re.search(rf'^krpc_server_frame_errors_total\{{reason="{reason}"\}} (\S+)$', node.metrics(), re.M)
    return float(m.group(1)) if m else 0.0


def open_stream(c, call_id):
    c.send(frame(REQUEST, field_varint(1, call_id) + field_bytes(2, "/grpc.testing.TestService/FullDuplexCall") +
                 field_varint(5, 3) + field_varint(6, 1 << 20)))
    f = c.next_frame()
    assert f is not None and f[0] == STREAM_ACCEPT, f
    return f


def test_a_message_beyond_the_credit_closes_the_connection(fresh_node):
    # The handler never runs (fault injection hangs it), so nothing returns credit.
    fresh_node.admin("POST", "/admin/fault", json.dumps({"method": "FullDuplexCall", "hang": "true"}))
    c = RawKrpc(fresh_node.port)
    accept = w.StreamAcceptHeader.FromString(open_stream(c, 1)[1])
    assert accept.call_id == 1 and accept.credit == 1 << 20, "STREAM_ACCEPT grants a 1 MiB window"
    big = t.StreamingOutputCallRequest(payload=t.Payload(body=bytes(1 << 20))).SerializeToString()
    c.send(frame(MESSAGE, field_varint(1, 1), big))  # larger than the window: allowed while it is open
    c.send(frame(MESSAGE, field_varint(1, 1), b""))  # one more, with the window spent
    while (f := c.next_frame()) is not None:
        pass  # the node closes the connection
    assert frame_errors(fresh_node, "stream_credit") == 1
    # Other connections are untouched.
    with grpc.insecure_channel(fresh_node.target) as ch:
        unary = ch.unary_unary("/grpc.testing.TestService/EmptyCall", request_serializer=t.Empty.SerializeToString,
                               response_deserializer=t.Empty.FromString)
        assert unary(t.Empty(), timeout=10) == t.Empty()


def test_a_message_for_a_call_never_opened_closes_the_connection(fresh_node):
    c = RawKrpc(fresh_node.port)
    c.send(frame(MESSAGE, field_varint(1, 77), b"x"))
    assert c.next_frame() is None
    assert frame_errors(fresh_node, "unexpected_frame") == 1


def test_a_stream_answers_message_by_message_then_the_status(fresh_node):
    c = RawKrpc(fresh_node.port)
    open_stream(c, 5)
    ask = t.StreamingOutputCallRequest(response_parameters=[t.ResponseParameters(size=3)]).SerializeToString()
    c.send(frame(MESSAGE, field_varint(1, 5), ask))
    got = []
    while (f := c.next_frame()) is not None and f[0] != MESSAGE:
        pass  # CREDIT for the message the handler read
    got.append(t.StreamingOutputCallResponse.FromString(f[2]))
    c.send(frame(MESSAGE, field_varint(1, 5) + field_varint(2, 1)))  # half-close
    while (f := c.next_frame()) is not None and f[0] != RESPONSE:
        pass
    assert f is not None, "no RESPONSE"
    final = w.ResponseHeader.FromString(f[1])
    assert (final.call_id, final.status) == (5, 0)
    assert len(got[0].payload.body) == 3


def test_messages_after_the_handler_finished_are_dropped(fresh_node):
    """The client grants one byte of credit, so the handler's answers wait on the node; the
    handler ends the call (a status it was asked for) while they wait; the client keeps
    writing. Its messages are dropped, the node stays up, and credit lets the answers and the
    status out."""
    c = RawKrpc(fresh_node.port)
    c.send(frame(REQUEST, field_varint(1, 3) + field_bytes(2, "/grpc.testing.TestService/FullDuplexCall") +
                 field_varint(5, 3) + field_varint(6, 1)))
    f = c.next_frame()
    assert f is not None and f[0] == STREAM_ACCEPT
    ask = t.StreamingOutputCallRequest(response_parameters=[t.ResponseParameters(size=10)] * 2)
    c.send(frame(MESSAGE, field_varint(1, 3), ask.SerializeToString()))
    ask2 = t.StreamingOutputCallRequest(response_status=t.EchoStatus(code=10, message="done"))
    c.send(frame(MESSAGE, field_varint(1, 3), ask2.SerializeToString()))
    # The handler has finished once both messages are read: two CREDIT frames come back.
    credits = 0
    while credits < 2:
        f = c.next_frame()
        assert f is not None, "the node closed the connection"
        credits += f[0] == CREDIT
    for _ in range(3):
        c.send(frame(MESSAGE, field_varint(1, 3), ask.SerializeToString()))
    c.send(frame(CREDIT, field_varint(1, 3) + field_varint(2, 1 << 20)))
    kinds = []
    while (f := c.next_frame()) is not None and f[0] != RESPONSE:
        kinds.append(f[0])
    assert kinds.count(MESSAGE) == 2, kinds
    assert f is not None and w.ResponseHeader.FromString(f[1]).status == 10
    assert fresh_node.proc.poll() is None


def test_a_request_reusing_an_open_streams_call_id_closes_the_connection(fresh_node):
    """Found by fuzzing: a second REQUEST with the id of an open stream replaced it, and the
    first stream's handler waited forever (a leak). It is a protocol error now."""
    c = RawKrpc(fresh_node.port)
    open_stream(c, 4)
    c.send(frame(REQUEST, field_varint(1, 4) + field_bytes(2, "/grpc.testing.TestService/FullDuplexCall") +
                 field_varint(5, 3) + field_varint(6, 1 << 20)))
    while c.next_frame() is not None:
        pass  # the node closes the connection
    assert frame_errors(fresh_node, "unexpected_frame") == 1
    # The first stream ended with the connection: nothing stays open.
    wait_until(lambda: re.search(r"^krpc_server_streams_open 0$", fresh_node.metrics(), re.M), 30,
               "the first stream to end")
