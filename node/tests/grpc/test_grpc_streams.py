"""Streaming calls on a real krpc-node, driven by Python's grpcio (a gRPC implementation no one
here wrote): gRPC's interop test cases against the node's grpc.testing.TestService (every kind
of stream), flow control with a client that stops reading, and the standard reflection service
(grpc.reflection.v1 and v1alpha) answering on one bidi stream."""
import queue
import signal
import re
import threading

import grpc
import pytest
from google.protobuf import descriptor_pb2

from testing import test_pb2 as t
from reflection.v1 import reflection_pb2 as r1
from reflection.v1alpha import reflection_pb2 as r1a
from krpc_procs import Node, wait_until

SVC = "/grpc.testing.TestService/"


def method(channel, name, req, resp, kind):
    make = {"uu": channel.unary_unary, "us": channel.unary_stream, "su": channel.stream_unary,
            "ss": channel.stream_stream}[kind]
    return make(SVC + name, request_serializer=req.SerializeToString, response_deserializer=resp.FromString)


@pytest.fixture
def channel(node):
    with grpc.insecure_channel(node.target) as ch:
        yield ch


def out_request(*sizes, interval_us=0, status=None, payload=b""):
    req = t.StreamingOutputCallRequest(payload=t.Payload(body=payload))
    for s in sizes:
        req.response_parameters.add(size=s, interval_us=interval_us)
    if status:
        req.response_status.code, req.response_status.message = status
    return req


def metric(node, name, labels=""):
    m = re.search(rf"^{re.escape(name)}{re.escape(labels)} (\S+)$", node.metrics(), re.M)
    return float(m.group(1)) if m else 0.0


# --- gRPC's interop cases (doc/interop-test-descriptions.md) ---

def test_large_unary_and_empty_unary(channel):
    unary = method(channel, "UnaryCall", t.SimpleRequest, t.SimpleResponse, "uu")
    resp = unary(t.SimpleRequest(response_size=314159, payload=t.Payload(body=bytes(271828))), timeout=30)
    assert len(resp.payload.body) == 314159
    assert method(channel, "EmptyCall", t.Empty, t.Empty, "uu")(t.Empty(), timeout=10) == t.Empty()


def test_server_streaming(channel):
    call = method(channel, "StreamingOutputCall", t.StreamingOutputCallRequest, t.StreamingOutputCallResponse, "us")
    sizes = [31415, 9, 2653, 58979]
    got = [len(r.payload.body) for r in call(out_request(*sizes), timeout=30)]
    assert got == sizes


def test_client_streaming(channel):
    call = method(channel, "StreamingInputCall", t.StreamingInputCallRequest, t.StreamingInputCallResponse, "su")
    sizes = [27182, 8, 1828, 45904]
    resp = call(iter([t.StreamingInputCallRequest(payload=t.Payload(body=bytes(n))) for n in sizes]), timeout=30)
    assert resp.aggregated_payload_size == sum(sizes)


def test_ping_pong(channel):
    """One request, its response, the next request: the handler answers each as it arrives."""
    call = method(channel, "FullDuplexCall", t.StreamingOutputCallRequest, t.StreamingOutputCallResponse, "ss")
    requests = queue.Queue()
    responses = call(iter(requests.get, None), timeout=30)
    for size, payload in [(31415, 27182), (9, 8), (2653, 1828), (58979, 45904)]:
        requests.put(out_request(size, payload=bytes(payload)))
        assert len(next(responses).payload.body) == size
    requests.put(None)
    assert list(responses) == []
    assert responses.code() == grpc.StatusCode.OK


def test_empty_stream(channel):
    call = method(channel, "FullDuplexCall", t.StreamingOutputCallRequest, t.StreamingOutputCallResponse, "ss")
    responses = call(iter([]), timeout=10)
    assert list(responses) == []
    assert responses.code() == grpc.StatusCode.OK


def test_half_duplex_answers_after_the_half_close(channel):
    call = method(channel, "HalfDuplexCall", t.StreamingOutputCallRequest, t.StreamingOutputCallResponse, "ss")
    got = [len(r.payload.body) for r in call(iter([out_request(3, 4), out_request(5)]), timeout=10)]
    assert got == [3, 4, 5]


def test_messages_larger_than_the_window_pass_both_ways(channel):
    """Flow control returns the bytes of a message still arriving while the handler keeps up: a
    message larger than the 1 MiB stream window (here 3 MiB each way, three times) must pass."""
    call = method(channel, "FullDuplexCall", t.StreamingOutputCallRequest, t.StreamingOutputCallResponse, "ss")
    big = 3 << 20
    got = [len(r.payload.body) for r in call(iter([out_request(big, payload=bytes(big))] * 3), timeout=60)]
    assert got == [big] * 3


def test_status_code_and_message(channel):
    call = method(channel, "FullDuplexCall", t.StreamingOutputCallRequest, t.StreamingOutputCallResponse, "ss")
    responses = call(iter([out_request(1, status=(2, "test status message"))]), timeout=10)
    with pytest.raises(grpc.RpcError) as e:
        list(responses)
    assert e.value.code() == grpc.StatusCode.UNKNOWN
    assert e.value.details() == "test status message"


def test_special_status_message(channel):
    text = "\t\ntest with whitespace\r\nand Unicode BMP \u2615 and non-BMP \U0001f608\t\n"
    unary = method(channel, "UnaryCall", t.SimpleRequest, t.SimpleResponse, "uu")
    with pytest.raises(grpc.RpcError) as e:
        unary(t.SimpleRequest(response_status=t.EchoStatus(code=2, message=text)), timeout=10)
    assert e.value.code() == grpc.StatusCode.UNKNOWN and e.value.details() == text


@pytest.mark.parametrize("kind", ["unary", "bidi"])
def test_custom_metadata_echoed_in_headers_and_trailers(channel, kind):
    md = [("x-grpc-test-echo-initial", "test_initial_metadata_value"),
          ("x-grpc-test-echo-trailing-bin", b"\x0a\x0b\x0a\x0b\x0a\x0b")]
    if kind == "unary":
        unary = method(channel, "UnaryCall", t.SimpleRequest, t.SimpleResponse, "uu")
        _, call = unary.with_call(t.SimpleRequest(response_size=314159), metadata=md, timeout=10)
    else:
        bidi = method(channel, "FullDuplexCall", t.StreamingOutputCallRequest, t.StreamingOutputCallResponse, "ss")
        call = bidi(iter([out_request(314159)]), metadata=md, timeout=10)
        assert [len(r.payload.body) for r in call] == [314159]
    assert dict(call.initial_metadata())["x-grpc-test-echo-initial"] == "test_initial_metadata_value"
    assert dict(call.trailing_metadata())["x-grpc-test-echo-trailing-bin"] == b"\x0a\x0b\x0a\x0b\x0a\x0b"


def test_unimplemented_method(channel):
    with pytest.raises(grpc.RpcError) as e:
        method(channel, "UnimplementedCall", t.Empty, t.Empty, "uu")(t.Empty(), timeout=10)
    assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_cancel_after_begin_and_after_first_response(node, channel):
    upload = method(channel, "StreamingInputCall", t.StreamingInputCallRequest, t.StreamingInputCallResponse, "su")
    requests = queue.Queue()
    future = upload.future(iter(requests.get, None), timeout=30)
    future.cancel()
    assert future.cancelled()
    bidi = method(channel, "FullDuplexCall", t.StreamingOutputCallRequest, t.StreamingOutputCallResponse, "ss")
    requests = queue.Queue()
    responses = bidi(iter(requests.get, None), timeout=30)
    requests.put(out_request(31415, payload=bytes(27182)))
    assert len(next(responses).payload.body) == 31415
    responses.cancel()
    with pytest.raises(grpc.RpcError) as e:
        next(responses)
    assert e.value.code() == grpc.StatusCode.CANCELLED
    requests.put(None)
    # The node saw both cancels: no stream stays open, no received byte stays held.
    wait_until(lambda: metric(node, "krpc_server_streams_open") == 0, 30, "the node to close both streams")
    wait_until(lambda: metric(node, "krpc_server_pending_frame_bytes") == 0, 30, "held bytes to be released")


def test_timeout_on_sleeping_server(node, channel):
    """The deadline covers the whole stream: the handler waits 2 s before its first response and
    the client allows 0.5 s. Both ends give up: the client DEADLINE_EXCEEDED, the node's stream
    closes (its own deadline timer, or the client's reset)."""
    bidi = method(channel, "FullDuplexCall", t.StreamingOutputCallRequest, t.StreamingOutputCallResponse, "ss")
    requests = queue.Queue()
    responses = bidi(iter(requests.get, None), timeout=0.5)
    requests.put(out_request(27182, interval_us=2_000_000))
    with pytest.raises(grpc.RpcError) as e:
        next(responses)
    assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    requests.put(None)
    wait_until(lambda: metric(node, "krpc_server_streams_open") == 0, 30, "the node to end the stream")


# --- flow control ---

def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+) kB", f.read()).group(1)) * 1024


def test_a_client_that_stops_reading_stops_the_handler():
    """The handler would stream 1 GiB (1024 messages of 1 MiB); the client reads one message
    and stops. The node's write waits for the client's window (a counter, waited on), having
    sent only what the windows and buffers hold, and its memory stays within a window and a few
    messages: gRPC's issue #37715 (server memory grows with a slow client) cannot happen."""
    node = Node()
    try:
        with grpc.insecure_channel(node.target) as ch:
            call = method(ch, "StreamingOutputCall", t.StreamingOutputCallRequest, t.StreamingOutputCallResponse, "us")
            before = rss_bytes(node.proc.pid)
            responses = call(out_request(*([1 << 20] * 1024)), timeout=120)
            assert len(next(responses).payload.body) == 1 << 20
            wait_until(lambda: metric(node, "krpc_server_stream_writes_waiting") == 1, 60,
                       "the handler's write to wait for the client's window")
            sent = metric(node, "krpc_server_stream_messages_total", '{direction="sent"}')
            grown = rss_bytes(node.proc.pid) - before
            print(f"stalled reader: {sent:.0f} messages of 1 MiB sent, node RSS grew {grown / 2**20:.1f} MiB")
            assert sent < 64, f"{sent} messages of 1 MiB written to a client that read one"
            assert grown < 64 << 20, f"the node grew {grown >> 20} MiB for a stalled reader"
            # Reading again resumes the stream.
            for _ in range(20):
                assert len(next(responses).payload.body) == 1 << 20
            assert metric(node, "krpc_server_stream_messages_total", '{direction="sent"}') > sent
            responses.cancel()
        wait_until(lambda: metric(node, "krpc_server_streams_open") == 0, 30, "the stream to close")
    finally:
        node.stop()


# --- reflection ---

@pytest.mark.parametrize("pb, package", [(r1, "grpc.reflection.v1"), (r1a, "grpc.reflection.v1alpha")])
def test_standard_reflection_lists_and_describes_on_one_stream(channel, pb, package):
    info = channel.stream_stream(f"/{package}.ServerReflection/ServerReflectionInfo",
                                 request_serializer=pb.ServerReflectionRequest.SerializeToString,
                                 response_deserializer=pb.ServerReflectionResponse.FromString)
    requests = [pb.ServerReflectionRequest(host="h", list_services=""),
                pb.ServerReflectionRequest(file_containing_symbol="grpc.testing.TestService"),
                pb.ServerReflectionRequest(file_containing_symbol="krpc.examples.EchoService.Echo"),
                pb.ServerReflectionRequest(file_by_filename="examples/user.proto"),
                pb.ServerReflectionRequest(file_containing_symbol="no.such.Thing")]
    answers = list(info(iter(requests), timeout=10))
    assert len(answers) == len(requests)
    services = [s.name for s in answers[0].list_services_response.service]
    for name in ["grpc.testing.TestService", "krpc.examples.EchoService", "grpc.reflection.v1.ServerReflection",
                 "grpc.reflection.v1alpha.ServerReflection", "krpc.health.v1.Health"]:
        assert name in services
    assert answers[0].valid_host == "h" and answers[0].original_request == requests[0]

    def files(answer):
        return [descriptor_pb2.FileDescriptorProto.FromString(b)
                for b in answer.file_descriptor_response.file_descriptor_proto]
    test_file = files(answers[1])[-1]
    assert test_file.name == "grpc/testing/test.proto"
    methods = {m.name: (m.client_streaming, m.server_streaming) for m in test_file.service[0].method}
    assert methods["FullDuplexCall"] == (True, True) and methods["StreamingInputCall"] == (True, False)
    assert files(answers[2])[-1].name == "examples/echo.proto"
    assert files(answers[3])[-1].name == "examples/user.proto"
    assert answers[4].error_response.error_code == grpc.StatusCode.NOT_FOUND.value[0]


def test_a_streaming_call_to_an_unknown_method_is_unimplemented(channel):
    bidi = channel.stream_stream("/grpc.testing.TestService/NoSuchStream")
    with pytest.raises(grpc.RpcError) as e:
        list(bidi(iter([b""]), timeout=10))
    assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED


# --- the call's semantics, for streams ---

def bidi_of(ch):
    return method(ch, "FullDuplexCall", t.StreamingOutputCallRequest, t.StreamingOutputCallResponse, "ss")


def open_bidi(ch, **kw):
    """A bidi stream that answered one request: (request queue, response iterator)."""
    requests = queue.Queue()
    responses = bidi_of(ch)(iter(requests.get, None), **kw)
    requests.put(out_request(7))
    assert len(next(responses).payload.body) == 7
    return requests, responses


def test_streams_run_with_handler_threads():
    """With handler_threads the handler starts on the pool; its reads and writes resume on the
    connection's I/O thread: every kind still works."""
    node = Node("--handler_threads=2")
    try:
        with grpc.insecure_channel(node.target) as ch:
            requests, responses = open_bidi(ch, timeout=30)
            requests.put(out_request(3, 4))
            assert [len(next(responses).payload.body) for _ in range(2)] == [3, 4]
            requests.put(None)
            assert list(responses) == []
            call = method(ch, "StreamingOutputCall", t.StreamingOutputCallRequest, t.StreamingOutputCallResponse, "us")
            assert [len(r.payload.body) for r in call(out_request(1, 2, 3), timeout=30)] == [1, 2, 3]
    finally:
        node.stop()


def test_an_open_stream_holds_a_max_inflight_slot():
    """max_inflight=1: one open stream takes the node's only slot; a stream on another
    connection (this one's MAX_CONCURRENT_STREAMS is 1 too) is refused until it ends."""
    node = Node("--max_inflight=1")
    try:
        with grpc.insecure_channel(node.target) as ch, \
                grpc.insecure_channel(node.target, options=[("grpc.use_local_subchannel_pool", 1)]) as other:
            requests, responses = open_bidi(ch, timeout=30)
            with pytest.raises(grpc.RpcError) as e:
                list(bidi_of(other)(iter([out_request(1)]), timeout=10))
            assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            requests.put(None)
            assert list(responses) == []
            wait_until(lambda: metric(node, "krpc_server_inflight_requests") == 0, 30, "the slot to be released")
            assert [len(r.payload.body) for r in bidi_of(ch)(iter([out_request(2)]), timeout=10)] == [2]
    finally:
        node.stop()


def test_a_drain_lets_an_open_stream_finish():
    """SIGTERM while a bidi stream is open: the stream goes on (ping-pong still answered) until
    the client half-closes; then the node exits cleanly."""
    node = Node("--drain_timeout_ms=60000", "--deregister_grace_ms=0")
    with grpc.insecure_channel(node.target) as ch:
        requests, responses = open_bidi(ch, timeout=60)
        node.proc.send_signal(signal.SIGTERM)
        assert node.wait_for_log("draining"), "".join(node.lines)
        requests.put(out_request(5))
        assert len(next(responses).payload.body) == 5
        requests.put(None)
        assert list(responses) == [] and responses.code() == grpc.StatusCode.OK
    assert node.proc.wait(60) == 0


def test_a_drain_that_times_out_ends_an_open_stream():
    node = Node("--drain_timeout_ms=300", "--deregister_grace_ms=0")
    with grpc.insecure_channel(node.target) as ch:
        requests, responses = open_bidi(ch, timeout=60)
        node.proc.send_signal(signal.SIGTERM)
        with pytest.raises(grpc.RpcError) as e:
            next(responses)
        assert e.value.code() == grpc.StatusCode.UNAVAILABLE
        requests.put(None)
    assert node.proc.wait(60) == 0, "".join(node.lines[-60:])
