"""The krpc CLI against real processes: --help everywhere; list, describe and call on a service
the CLI was not built with (the standalone example's Greeter), through --proto files and through
the node's reflection service, directly and through zk://; metadata both ways; exit codes per
status; bad input; bench output in text, JSON and CSV."""
import json
import os
import subprocess
import tempfile

import pytest

from conftest import krpc

COMMANDS = ["list", "describe", "call", "bench", "health", "status"]


def test_help_exits_zero_on_the_tool_and_every_subcommand():
    for args in (["--help"], ["-h"], ["help"]):
        r = krpc(*args)
        assert r.returncode == 0, r.stderr
        for c in COMMANDS:
            assert f"  {c} " in r.stdout, r.stdout
    for c in COMMANDS:
        for flag in ("--help", "-h"):
            r = krpc(c, flag)
            assert r.returncode == 0, (c, r.stderr)
            assert r.stdout.startswith(f"usage: krpc {c} "), r.stdout
            assert "--rpc_timeout_ms" in r.stdout or c == "list" and "--zk" in r.stdout, r.stdout
    # the other binaries too
    for env in ("KRPC_NODE", "KRPC_BENCH", "KRPC_GREETER"):
        r = subprocess.run([os.environ[env], "--help"], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and "usage:" in r.stdout, (env, r.stdout, r.stderr)


def test_no_or_unknown_subcommand_is_an_error_with_the_command_list():
    r = krpc()
    assert r.returncode == 2 and "commands:" in r.stderr
    r = krpc("frobnicate")
    assert r.returncode == 2 and "unknown command 'frobnicate'" in r.stderr


def test_call_a_service_not_compiled_in_via_proto_files(greeter):
    proto = os.environ["GREETER_PROTO"]
    r = krpc("call", "--target", greeter.target, "--proto", proto, "--reflection=false",
             "greet.Greeter/SayHello", "-d", '{"name":"ann"}', "--format", "json")
    assert r.returncode == 0, r.stderr
    reply = json.loads(r.stdout)
    assert reply["text"] == "hello, ann" and reply["servedBy"], reply
    # -I import path plus a file name relative to it
    r = krpc("call", "--target", greeter.target, "-I", os.path.dirname(proto), "--proto", proto,
             "greet.Greeter/SayHello", '{"name":"bo"}')
    assert r.returncode == 0 and "hello, bo" in r.stdout, r.stderr


def test_call_a_service_not_compiled_in_via_reflection(greeter):
    r = krpc("call", "--target", greeter.target, "/greet.Greeter/SayHello", "-d", '{"name":"cy"}')
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["text"] == "hello, cy"
    # without reflection and without --proto the CLI does not know it, and says what to do
    r = krpc("call", "--target", greeter.target, "--reflection=false", "greet.Greeter/SayHello", "-d", "{}")
    assert r.returncode == 2 and "unknown method 'greet.Greeter/SayHello'" in r.stderr and "--proto" in r.stderr, r.stderr


def test_call_through_zookeeper_discovery(zk, greeter, node):
    r = krpc("call", "--target", f"zk://{zk.hosts}/krpc", "greet.Greeter/SayHello", "-d", '{"name":"zed"}',
             "--max_attempts=3", "--load_balancer=round_robin")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["text"] == "hello, zed"


def test_bench_through_zookeeper_discovery(zk, greeter):
    r = krpc("bench", "--target", f"zk://{zk.hosts}/krpc", "greet.Greeter/SayHello", "-d", '{"name":"zk"}',
             "--total", "500", "--concurrency", "4", "--format", "json", "--progress=off")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["count"] == 500 and s["status_code_distribution"] == {"OK": 500}, s


def test_request_from_a_file_and_from_stdin(greeter):
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        f.write('{"name": "file"}')
    r = krpc("call", "--target", greeter.target, "greet.Greeter/SayHello", "-d", "@" + f.name)
    assert r.returncode == 0 and "hello, file" in r.stdout, r.stderr
    r = krpc("call", "--target", greeter.target, "greet.Greeter/SayHello", "-d", "-", stdin='{"name":"pipe"}')
    assert r.returncode == 0 and "hello, pipe" in r.stdout, r.stderr
    r = krpc("call", "--target", greeter.target, "greet.Greeter/SayHello", "-d", "@/nonexistent.json")
    assert r.returncode == 2 and "cannot read request file" in r.stderr


def test_metadata_goes_out_and_response_metadata_comes_back(node):
    for protocol in ("krpc", "grpc"):
        r = krpc("call", "--target", node.target, f"--protocol={protocol}", "krpc.examples.EchoService/Echo",
                 "-d", '{"payload":"aGk="}', "-H", "x-echo-user: bob", "-H", "x-other:1")
        assert r.returncode == 0, r.stderr
        assert "< x-echo-user: bob" in r.stderr, r.stderr  # the Echo example returns x-echo-* metadata
        assert "x-other" not in r.stderr
    r = krpc("call", "--target", node.target, "krpc.examples.EchoService/Echo", "-H", "nocolon")
    assert r.returncode == 2 and "bad header 'nocolon'" in r.stderr


def test_exit_code_per_status(greeter):
    # The Greeter answers INVALID_ARGUMENT (3) to an empty name: exit 64 + 3.
    r = krpc("call", "--target", greeter.target, "greet.Greeter/SayHello", "-d", "{}", "--format", "json")
    assert r.returncode == 67, (r.returncode, r.stderr)
    assert json.loads(r.stdout) == {"code": "INVALID_ARGUMENT", "message": "name is empty"}
    # Nothing listens: UNAVAILABLE (14) after the connect fails.
    r = krpc("call", "--target", "127.0.0.1:1", "--reflection=false", "krpc.examples.EchoService/Echo", "-d", "{}",
             "--rpc_timeout_ms=3000")
    assert r.returncode == 64 + 14, (r.returncode, r.stderr)
    assert "UNAVAILABLE" in r.stderr


def test_bad_input_gets_a_clear_message_and_a_non_zero_exit(node):
    cases = [
        (["call", "--target", node.target, "krpc.examples.EchoService/Nope", "{}"], "unknown method"),
        (["call", "--target", node.target, "nodots", "{}"], "is not a method name"),
        (["call", "--target", node.target, "krpc.examples.EchoService/Echo", '{"payload":'], "bad request JSON"),
        (["call", "--target", node.target, "krpc.examples.EchoService/Echo", '{"nofield":1}'], "bad request JSON"),
        (["call", "krpc.examples.EchoService/Echo", "{}"], "--target is required"),
        (["call", "--target", node.target, "--proto", "/nonexistent.proto", "a.B/C"], "cannot read --proto file"),
        (["call", "--target", node.target, "--no_such_flag=1", "a.B/C"], "unknown configuration key 'no_such_flag'"),
        (["bench", "--target", node.target, "--format", "xml", "krpc.examples.EchoService/Echo"], "'format'"),
        (["describe", "--target", node.target, "no.Such"], "no service, method or message named 'no.Such'"),
    ]
    for args, message in cases:
        r = krpc(*args)
        assert r.returncode == 2, (args, r.returncode, r.stderr)
        assert message in r.stderr, (args, r.stderr)
    with tempfile.NamedTemporaryFile("w", suffix=".proto", delete=False, dir="/tmp") as f:
        f.write('syntax = "proto3";\npackage x;\nmessage A { int32 a = 1 }\n')
    r = krpc("call", "--target", node.target, "--proto", f.name, "x.S/M")
    assert r.returncode == 2 and os.path.basename(f.name) + ":3:" in r.stderr, r.stderr  # file:line:column


def test_describe_via_reflection_and_via_proto(greeter):
    r = krpc("describe", "--target", greeter.target, "greet.Greeter")
    assert r.returncode == 0, r.stderr
    assert "service Greeter" in r.stdout and "rpc SayHello(.greet.HelloRequest) returns (.greet.HelloReply)" in r.stdout
    r = krpc("describe", "--target", greeter.target, "greet.Greeter/SayHello")
    assert r.returncode == 0 and "message HelloRequest" in r.stdout and "string name = 1;" in r.stdout, r.stdout
    r = krpc("describe", "--proto", os.environ["GREETER_PROTO"], "greet.HelloReply")
    assert r.returncode == 0 and "string served_by = 2;" in r.stdout, r.stderr


def test_list_from_a_node_from_zookeeper_and_from_proto_files(zk, node, greeter):
    r = krpc("list", "--target", node.target)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection",
                                "grpc.testing.TestService", "krpc.examples.EchoService", "krpc.examples.UserService",
                                "krpc.health.v1.Health", "krpc.reflection.v1.Reflection"], r.stdout
    r = krpc("list", "--target", greeter.target, "--format", "json")
    assert "greet.Greeter" in json.loads(r.stdout)
    for args in (["--zk", zk.hosts], ["--target", f"zk://{zk.hosts}/krpc"]):
        r = krpc("list", *args, "--format", "json")
        assert r.returncode == 0, r.stderr
        rows = json.loads(r.stdout)
        services = {row["service"] for row in rows}
        assert {"greet.Greeter", "krpc.examples.EchoService"} <= services, rows
        assert f"127.0.0.1:{greeter.port}" in {row["provider"] for row in rows}
    r = krpc("list", "--proto", os.environ["GREETER_PROTO"])
    assert r.returncode == 0 and r.stdout.split() == ["greet.Greeter"]
    r = krpc("list", "--zk", "127.0.0.1:1", "--rpc_timeout_ms=1500")
    assert r.returncode == 1 and "cannot reach ZooKeeper" in r.stderr


def test_bench_text_json_and_csv(greeter):
    base = ["bench", "--target", greeter.target, "greet.Greeter/SayHello", "-d", '{"name":"b"}', "--progress=off"]
    r = krpc(*base, "--total", "2000", "--concurrency", "8")
    assert r.returncode == 0, r.stderr
    for line in ("Summary:", "Count:\t2000", "Requests/sec:", "Fastest:", "Slowest:", "Average:",
                 "Response time histogram:", "Latency distribution:", "99.9 % in", "Status code distribution:",
                 "[OK]\t2000 responses"):
        assert line in r.stdout, (line, r.stdout)
    r = krpc(*base, "--total", "1000", "--format", "json")
    s = json.loads(r.stdout)
    assert s["count"] == 1000 and s["status_code_distribution"] == {"OK": 1000}
    assert [p["percentage"] for p in s["latency_distribution"]] == [10, 25, 50, 75, 90, 95, 99, 99.9]
    lat = [p["latency_ms"] for p in s["latency_distribution"]]
    assert lat == sorted(lat) and s["fastest_ms"] <= lat[0] * 1.02 and lat[-1] <= s["slowest_ms"] * 1.02, s
    assert sum(b["count"] for b in s["histogram"]) == 1000 and s["rps"] > 0
    r = krpc(*base, "--total", "500", "--format", "csv")
    header, row = r.stdout.strip().split("\n")
    fields = dict(zip(header.split(","), row.split(",")))
    assert fields["count"] == "500" and fields["ok"] == "500" and fields["errors"] == "0" and "p99.9_ms" in fields
    # errors are counted by status: an empty name is INVALID_ARGUMENT
    r = krpc("bench", "--target", greeter.target, "greet.Greeter/SayHello", "-d", "{}", "--total", "300",
             "--format", "json", "--progress=off")
    s = json.loads(r.stdout)
    assert s["status_code_distribution"] == {"INVALID_ARGUMENT": 300}, s
    assert s["error_distribution"] == {"name is empty": 300} and r.returncode == 67


def test_bench_open_loop_keeps_its_rate(greeter):
    r = krpc("bench", "--target", greeter.target, "greet.Greeter/SayHello", "-d", '{"name":"r"}', "--rate", "400",
             "--total", "400", "--format", "json", "--progress=off")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["count"] == 400 and s["mode"].startswith("open loop, 400 calls/s")
    # 400 calls at 400/s are scheduled over 1 s: the run cannot end before the last is due
    assert s["total_s"] >= 0.99, s


def test_the_address_may_come_first_and_durations_take_units(zk, node, greeter):
    """grpcurl's and ghz's habits: `krpc list 127.0.0.1:7001` (no --target) and `--duration 10s`."""
    r = krpc("list", node.target)
    assert r.returncode == 0, r.stderr
    assert "krpc.examples.EchoService" in r.stdout.split()
    r = krpc("list", f"zk://{zk.hosts}/krpc", "--format", "json")
    assert r.returncode == 0 and "greet.Greeter" in {row["service"] for row in json.loads(r.stdout)}, r.stderr
    r = krpc("call", greeter.target, "greet.Greeter/SayHello", '{"name":"positional"}')
    assert r.returncode == 0 and "positional" in r.stdout, r.stderr
    r = krpc("describe", greeter.target, "greet.Greeter")
    assert r.returncode == 0 and "service Greeter" in r.stdout, r.stderr
    r = krpc("bench", greeter.target, "greet.Greeter/SayHello", "-d", '{"name":"d"}', "--duration", "300ms",
             "--format", "json", "--progress=off")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["count"] > 0 and s["status_code_distribution"] == {"OK": s["count"]}
    # A duration it cannot read names the key; a method is never taken for an address.
    r = krpc("bench", greeter.target, "greet.Greeter/SayHello", "--duration", "10 parsecs", "--progress=off")
    assert r.returncode == 2 and "duration" in r.stderr, r.stderr
    r = krpc("call", "greet.Greeter/SayHello", '{"name":"x"}')
    assert r.returncode == 2 and "--target is required" in r.stderr, r.stderr


TS = "grpc.testing.TestService/"


def test_call_streams_json_lines_in_and_out(node):
    """Every kind of stream through `krpc call` against the node's interop TestService, schemas
    from its reflection: server streaming (one request, JSON lines out), client streaming (JSON
    lines in from stdin), bidi (a status ends it: its exit code), and a bad line (exit 2)."""
    r = krpc("call", node.target, TS + "StreamingOutputCall", '{"responseParameters":[{"size":3},{"size":5}]}')
    assert r.returncode == 0, r.stderr
    sizes = [len(json.loads(line)["payload"].get("body", "")) for line in r.stdout.splitlines()]
    assert sizes == [4, 8], r.stdout  # base64 of 3 and 5 bytes

    lines = "\n".join(json.dumps({"payload": {"body": b}}) for b in ["YWJj", "YWJjZA==", ""]) + "\n"
    r = krpc("call", node.target, TS + "StreamingInputCall", "-d", "-", stdin=lines)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"aggregatedPayloadSize": 7}

    lines = ('{"responseParameters":[{"size":2}]}\n'
             '{"responseParameters":[{"size":1}],"responseStatus":{"code":9,"message":"stop"}}\n')
    r = krpc("call", node.target, TS + "FullDuplexCall", "-d", "-", stdin=lines)
    assert r.returncode == 64 + 9, (r.stdout, r.stderr)
    assert len(r.stdout.splitlines()) == 1 and "FAILED_PRECONDITION: stop" in r.stderr

    r = krpc("call", node.target, TS + "FullDuplexCall", "-d", "-", stdin='{"responseParameters":[{"size":2}]}\nnot json\n')
    assert r.returncode == 2 and "bad request JSON" in r.stderr, r.stderr


def test_the_standalone_examples_chat_stream(greeter):
    """examples/standalone's Greeter.Chat (a bidi stream with coroutine handlers, a service the
    CLI was not built with): names in as JSON lines, a greeting out for each."""
    r = krpc("call", greeter.target, "greet.Greeter/Chat", "-d", "-", stdin='{"name":"a"}\n{"name":"b"}\n')
    assert r.returncode == 0, r.stderr
    assert [json.loads(line)["text"] for line in r.stdout.splitlines()] == ["hello, a", "hello, b"]
