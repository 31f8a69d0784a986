"""Flow control toward the node, frame by frame with the raw HTTP/2 client of test_grpc_drain:
the bytes of a stream's messages go back to the client's window only when the handler reads
them. A handler that never reads (fault injection hangs it) leaves the window shut after
exactly one window, the node holds that much and no more, and a client that sends past the
window has its stream reset (nghttp2 enforces the window the node announced)."""
import json
import re
import struct

from testing import test_pb2 as t
from test_grpc_drain import ACK, DATA, HEADERS, END_HEADERS, PING, RawH2, frame

WINDOW_UPDATE, RST_STREAM = 0x8, 0x3
PATH = "/grpc.testing.TestService/FullDuplexCall"
WINDOW = 1 << 20  # the stream window the node announces


def metric(node, name):
    m = re.search(rf"^{re.escape(name)} (\S+)$", node.metrics(), re.M)
    return float(m.group(1)) if m else None


def ping(h2, opaque):
    """Sends a PING and returns every frame before its ACK: the node handled all sent before."""
    h2.sock.sendall(frame(PING, 0, 0, opaque))
    seen = []
    while (f := h2.next_frame()) is not None:
        if f[0] == PING and f[1] & ACK and f[3] == opaque:
            return seen
        seen.append(f)
    raise AssertionError("the node closed the connection")


def test_a_handler_that_does_not_read_shuts_the_window_after_one_window(fresh_node):
    fresh_node.admin("POST", "/admin/fault", json.dumps({"method": "FullDuplexCall", "hang": "true"}))
    h2 = RawH2(fresh_node.port)
    ping(h2, b"settings")  # the node's SETTINGS are read and acknowledged: its window applies
    h2.sock.sendall(frame(HEADERS, END_HEADERS, 1, h2.encoder.encode(
        [(":method", "POST"), (":scheme", "http"), (":path", PATH), (":authority", "krpc"),
         ("content-type", "application/grpc"), ("te", "trailers")])))
    # Sixteen messages of 64 KiB on the wire (prefix included): exactly one window.
    body = t.StreamingOutputCallRequest(payload=t.Payload(body=bytes(65536 - 5 - 8))).SerializeToString()
    message = b"\x00" + struct.pack(">I", len(body)) + body
    assert len(message) == 65536
    stream = message * (WINDOW // len(message))
    for off in range(0, len(stream), 16384):  # the default largest frame
        h2.sock.sendall(frame(DATA, 0, 1, stream[off:off + 16384]))
    before_ack = ping(h2, b"window01")
    updates = [f for f in before_ack if f[0] == WINDOW_UPDATE and f[2] == 1]
    assert updates == [], "the stream's window was returned though the handler read nothing"
    assert metric(fresh_node, "krpc_server_pending_frame_bytes") == WINDOW, "the node holds exactly one window"
    # One byte past the window: the stream is reset, its bytes released.
    h2.sock.sendall(frame(DATA, 0, 1, b"\x00"))
    rst = h2.until(RST_STREAM, 1)
    assert rst is not None and struct.unpack(">I", rst[3])[0] == 0x3, "FLOW_CONTROL_ERROR"
    ping(h2, b"released")
    assert metric(fresh_node, "krpc_server_pending_frame_bytes") == 0
    assert metric(fresh_node, "krpc_server_streams_open") == 0
