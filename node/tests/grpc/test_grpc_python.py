"""Python's grpcio (Debian's python3-grpcio, a gRPC implementation no one here wrote) calling a
real krpc-node over gRPC on the node's RPC port, beside krpc-protocol traffic on that port."""
import json
import os
import re
import subprocess
from concurrent import futures

import grpc
import pytest

from examples import echo_pb2, user_pb2
from krpc import health_pb2  # wire-identical to grpc.health.v1's messages

ECHO = "/krpc.examples.EchoService/Echo"


def unary(channel, path, req_cls, resp_cls):
    return channel.unary_unary(path, request_serializer=req_cls.SerializeToString,
                               response_deserializer=resp_cls.FromString)


def echo_stub(channel):
    return unary(channel, ECHO, echo_pb2.EchoRequest, echo_pb2.EchoResponse)


@pytest.fixture
def channel(node):
    with grpc.insecure_channel(node.target) as ch:
        yield ch


@pytest.mark.parametrize("size", [0, 1, 64, 65536, 1 << 20, (4 << 20) - 64])
def test_echo_payloads_from_empty_to_4_MiB(channel, size):
    payload = os.urandom(size)
    resp = echo_stub(channel)(echo_pb2.EchoRequest(payload=payload), timeout=30)
    assert resp.payload == payload


def test_user_service_login_and_register(channel):
    reg = unary(channel, "/krpc.examples.UserService/Register", user_pb2.RegisterRequest, user_pb2.RegisterResponse)
    login = unary(channel, "/krpc.examples.UserService/Login", user_pb2.LoginRequest, user_pb2.LoginResponse)
    r = reg(user_pb2.RegisterRequest(id=7, name="grpc-user", pwd="pw"), timeout=10)
    assert r.success and r.result.errcode == 0
    assert login(user_pb2.LoginRequest(name="grpc-user", pwd="pw"), timeout=10).success


def test_metadata_travels_both_ways_including_binary(channel):
    resp, call = echo_stub(channel).with_call(
        echo_pb2.EchoRequest(payload=b"m"), timeout=10,
        metadata=[("x-echo-text", "hello"), ("x-echo-bin", b"\x00\xff\x10"), ("x-other", "not echoed")])
    assert resp.payload == b"m"
    md = dict(call.initial_metadata())
    assert md["x-echo-text"] == "hello"
    assert md["x-echo-bin"] == b"\x00\xff\x10"
    assert "x-other" not in md
    assert call.code() == grpc.StatusCode.OK


def test_a_handler_slower_than_the_deadline_gives_deadline_exceeded(node, channel):
    node.admin("POST", "/admin/fault", json.dumps({"method": "Echo", "delay_ms": 3000}))
    try:
        with pytest.raises(grpc.RpcError) as e:
            echo_stub(channel)(echo_pb2.EchoRequest(payload=b"slow"), timeout=0.3)
        assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    finally:
        node.admin("DELETE", "/admin/fault")
    assert echo_stub(channel)(echo_pb2.EchoRequest(payload=b"ok"), timeout=10).payload == b"ok"


ERROR_CODES = [c for c in grpc.StatusCode if c != grpc.StatusCode.OK]


@pytest.mark.parametrize("code", ERROR_CODES, ids=[c.name for c in ERROR_CODES])
def test_every_status_code_a_handler_returns_reaches_the_client(node, channel, code):
    node.admin("POST", "/admin/fault", json.dumps({"method": "Echo", "code": code.name, "rate": 1.0}))
    try:
        with pytest.raises(grpc.RpcError) as e:
            echo_stub(channel)(echo_pb2.EchoRequest(payload=b"x"), timeout=10)
        assert e.value.code() == code
        assert e.value.details() == "injected fault"
    finally:
        node.admin("DELETE", "/admin/fault")


def test_unknown_method_is_unimplemented(channel):
    with pytest.raises(grpc.RpcError) as e:
        unary(channel, "/krpc.examples.EchoService/Nope", echo_pb2.EchoRequest, echo_pb2.EchoResponse)(
            echo_pb2.EchoRequest(), timeout=10)
    assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "Nope" in e.value.details()


def never_ending(first, stop):
    """A request stream that sends `first` and then nothing, without half-closing, until
    `stop` is set (the client's sending thread must end with the test)."""
    yield first
    stop.wait(120)


def test_an_unknown_method_is_refused_on_its_headers_whatever_the_stream_does_next(channel):
    # The client never half-closes: a node that answered only at the stream's end would leave
    # this call hanging until its deadline (DEADLINE_EXCEEDED), not UNIMPLEMENTED.
    import threading
    stop = threading.Event()
    bidi = channel.stream_stream("/krpc.examples.EchoService/Nope", request_serializer=echo_pb2.EchoRequest.SerializeToString,
                                 response_deserializer=echo_pb2.EchoResponse.FromString)
    try:
        with pytest.raises(grpc.RpcError) as e:
            for _ in bidi(never_ending(echo_pb2.EchoRequest(payload=b"a"), stop), timeout=60):
                pass
        assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED, e.value
        assert "Nope" in e.value.details()
    finally:
        stop.set()
    assert echo_stub(channel)(echo_pb2.EchoRequest(payload=b"after"), timeout=10).payload == b"after"


def test_a_whole_message_that_is_not_the_request_type_is_invalid_argument(channel):
    # Field 1 (payload, bytes) sent with wire type 0 (varint): framed correctly, unparsable.
    raw = channel.unary_unary(ECHO, request_serializer=lambda b: b,
                              response_deserializer=echo_pb2.EchoResponse.FromString)
    with pytest.raises(grpc.RpcError) as e:
        raw(b"\x08\x96\x01\x0a\xff\xff\xff\xff\x0f", timeout=10)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT, e.value
    assert "cannot parse" in e.value.details()


def test_an_oversize_request_is_resource_exhausted_and_the_channel_keeps_working(channel):
    with pytest.raises(grpc.RpcError) as e:
        echo_stub(channel)(echo_pb2.EchoRequest(payload=b"x" * (5 << 20)), timeout=30)
    assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "max_body_bytes" in e.value.details()
    assert echo_stub(channel)(echo_pb2.EchoRequest(payload=b"after"), timeout=10).payload == b"after"


def test_a_gzip_compressed_request_is_served(channel):
    payload = b"compressible " * 1000
    resp = echo_stub(channel)(echo_pb2.EchoRequest(payload=payload), timeout=10, compression=grpc.Compression.Gzip)
    assert resp.payload == payload


def test_a_streaming_call_is_unimplemented(channel):
    stream = channel.stream_unary(ECHO, request_serializer=echo_pb2.EchoRequest.SerializeToString,
                                  response_deserializer=echo_pb2.EchoResponse.FromString)
    with pytest.raises(grpc.RpcError) as e:
        stream(iter([echo_pb2.EchoRequest(payload=b"a"), echo_pb2.EchoRequest(payload=b"b")]), timeout=10)
    assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "streaming" in e.value.details()


def test_many_concurrent_calls_on_one_channel(channel):
    stub = echo_stub(channel)
    calls = [stub.future(echo_pb2.EchoRequest(payload=str(i).encode()), timeout=60) for i in range(2000)]
    assert [c.result().payload for c in calls] == [str(i).encode() for i in range(2000)]


def test_standard_health_check(channel):
    check = unary(channel, "/grpc.health.v1.Health/Check", health_pb2.HealthCheckRequest, health_pb2.HealthCheckResponse)
    assert check(health_pb2.HealthCheckRequest(), timeout=10).status == health_pb2.HealthCheckResponse.SERVING
    assert check(health_pb2.HealthCheckRequest(service="krpc.examples.EchoService"),
                 timeout=10).status == health_pb2.HealthCheckResponse.SERVING
    with pytest.raises(grpc.RpcError) as e:
        check(health_pb2.HealthCheckRequest(service="no.such.Service"), timeout=10)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND


def health_watch(channel):
    return channel.unary_stream("/grpc.health.v1.Health/Watch",
                                request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
                                response_deserializer=health_pb2.HealthCheckResponse.FromString)


def test_health_watch_streams_serving_then_not_serving_when_the_node_drains(fresh_node):
    # gRPC's health protocol (grpc.health.v1.Health/Watch, a server stream): the status now,
    # then each change. The node's change is its drain: NOT_SERVING, then the stream ends
    # UNAVAILABLE (the drain does not wait for it).
    import signal
    SERVING, NOT_SERVING = health_pb2.HealthCheckResponse.SERVING, health_pb2.HealthCheckResponse.NOT_SERVING
    with grpc.insecure_channel(fresh_node.target) as ch:
        whole = health_watch(ch)(health_pb2.HealthCheckRequest(), timeout=60)
        echo = health_watch(ch)(health_pb2.HealthCheckRequest(service="krpc.examples.EchoService"), timeout=60)
        assert next(whole).status == SERVING
        assert next(echo).status == SERVING
        fresh_node.proc.send_signal(signal.SIGTERM)
        for stream in (whole, echo):
            assert next(stream).status == NOT_SERVING
            with pytest.raises(grpc.RpcError) as e:
                next(stream)
            assert e.value.code() == grpc.StatusCode.UNAVAILABLE, e.value
            assert "draining" in e.value.details()
    assert fresh_node.proc.wait(timeout=60) == 0
    assert fresh_node.wait_for_log("drain complete")


def test_health_watch_of_an_unknown_service_says_so_and_stays_open(channel):
    stream = health_watch(channel)(health_pb2.HealthCheckRequest(service="no.such.Service"), timeout=60)
    assert next(stream).status == health_pb2.HealthCheckResponse.SERVICE_UNKNOWN
    stream.cancel()  # open until the client ends it (the service may appear later)
    with pytest.raises(grpc.RpcError) as e:
        next(stream)
    assert e.value.code() == grpc.StatusCode.CANCELLED
    # The cancelled stream left the connection serving.
    assert echo_stub(channel)(echo_pb2.EchoRequest(payload=b"after"), timeout=10).payload == b"after"


def test_grpc_calls_are_counted_with_a_protocol_label(node, channel):
    echo_stub(channel)(echo_pb2.EchoRequest(payload=b"count"), timeout=10)
    m = re.search(r'krpc_server_requests_total\{[^}]*code="OK"[^}]*method="Echo"[^}]*protocol="grpc"[^}]*\} (\d+)',
                  node.metrics())
    assert m and int(m.group(1)) >= 1, node.metrics()


def test_krpc_protocol_keeps_working_on_the_same_port_at_the_same_time(node, channel):
    bench = subprocess.Popen([os.environ["KRPC_BENCH"], "--host=127.0.0.1", f"--port={node.port}", "--concurrency=8",
                              "--duration=3", "--payload=64"], stdout=subprocess.PIPE, text=True)
    stub = echo_stub(channel)
    grpc_calls = 0
    while bench.poll() is None:
        assert stub(echo_pb2.EchoRequest(payload=b"side by side"), timeout=10).payload == b"side by side"
        grpc_calls += 1
    out = json.loads(bench.stdout.read().strip().splitlines()[-1])
    assert bench.returncode == 0
    assert out["calls"] > 0 and out["errors"] == 0, out
    assert grpc_calls > 0


def test_drain_sends_goaway_and_the_node_exits_cleanly(fresh_node):
    with grpc.insecure_channel(fresh_node.target) as ch:
        assert echo_stub(ch)(echo_pb2.EchoRequest(payload=b"before"), timeout=10).payload == b"before"
        assert fresh_node.stop() == 0
        with pytest.raises(grpc.RpcError) as e:
            echo_stub(ch)(echo_pb2.EchoRequest(payload=b"after"), timeout=5)
        assert e.value.code() == grpc.StatusCode.UNAVAILABLE
    assert fresh_node.wait_for_log("drain complete")


@pytest.mark.parametrize("garbage", [
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x01\x05\x00\x00\x00\x01",  # HEADERS before SETTINGS
    b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n" + b"\x00" * 64,                             # a broken preface
], ids=["headers_before_settings", "bad_preface"])
def test_broken_http2_closes_only_that_connection_with_a_logged_reason_and_a_metric(node, channel, garbage):
    import socket

    def errors():
        m = re.search(r'krpc_server_frame_errors_total\{reason="http2"\} (\d+)', node.metrics())
        return int(m.group(1)) if m else 0

    before = errors()
    with socket.create_connection(("127.0.0.1", node.port), timeout=10) as s:
        s.sendall(garbage)
        while s.recv(65536):  # the server answers GOAWAY and closes: read until EOF
            pass
    assert errors() == before + 1
    assert node.wait_for_log("closing HTTP/2 connection")
    # Other connections are untouched.
    assert echo_stub(channel)(echo_pb2.EchoRequest(payload=b"still here"), timeout=10).payload == b"still here"


def test_max_inflight_refuses_extra_grpc_calls_with_resource_exhausted():
    from conftest import Node
    n = Node("--max_inflight=1", "--overload_pushback_ms=75")
    try:
        n.admin("POST", "/admin/fault", json.dumps({"method": "Echo", "delay_ms": 3000}))
        # Two connections: on one, the node's SETTINGS (max concurrent streams = max_inflight)
        # make the client queue the second call itself; the limit is node-wide.
        with grpc.insecure_channel(n.target) as ch, \
                grpc.insecure_channel(n.target, options=[("grpc.use_local_subchannel_pool", 1)]) as ch2:
            stub = echo_stub(ch)
            held = stub.future(echo_pb2.EchoRequest(payload=b"held"), timeout=30)
            # The held call counts once the node has it in flight (a condition, not a sleep).
            for _ in range(5000):
                if re.search(r"krpc_server_inflight_requests 1\b", n.metrics()):
                    break
            with pytest.raises(grpc.RpcError) as e:
                echo_stub(ch2)(echo_pb2.EchoRequest(payload=b"extra"), timeout=10)
            assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "max_inflight=1" in e.value.details()
            # The refusal carries gRPC's retry pushback (A6) as a trailer.
            assert dict(e.value.trailing_metadata() or ()).get("grpc-retry-pushback-ms") == "75"
            # A client stream that never half-closes is refused on its headers too.
            import threading
            stop = threading.Event()
            upload = ch2.stream_unary(ECHO, request_serializer=echo_pb2.EchoRequest.SerializeToString,
                                      response_deserializer=echo_pb2.EchoResponse.FromString)
            try:
                with pytest.raises(grpc.RpcError) as e:
                    upload(never_ending(echo_pb2.EchoRequest(payload=b"a"), stop), timeout=60)
                assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, e.value
                assert "max_inflight=1" in e.value.details()
            finally:
                stop.set()
            n.admin("DELETE", "/admin/fault")
            assert held.result().payload == b"held"
    finally:
        n.stop()


def test_max_connections_refuses_an_extra_grpc_connection_with_goaway():
    import socket
    from conftest import Node
    n = Node("--max_connections=1")
    try:
        with grpc.insecure_channel(n.target) as ch:
            assert echo_stub(ch)(echo_pb2.EchoRequest(payload=b"first"), timeout=10).payload == b"first"
            # A second HTTP/2 connection is told GOAWAY (ENHANCE_YOUR_CALM, with the reason) and closed.
            with socket.create_connection(("127.0.0.1", n.port), timeout=10) as s:
                s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")
                data = b""
                while chunk := s.recv(65536):
                    data += chunk
            assert b"connection limit reached (max_connections=1)" in data
            goaway = data.find(b"\x07\x00\x00\x00\x00\x00")  # a GOAWAY frame header: type 7, stream 0
            assert goaway >= 3 and data[goaway + 10:goaway + 14] == b"\x00\x00\x00\x0b"  # ENHANCE_YOUR_CALM
            # The first connection is unaffected.
            assert echo_stub(ch)(echo_pb2.EchoRequest(payload=b"again"), timeout=10).payload == b"again"
    finally:
        n.stop()
