"""Security of a real krpc-node with real clients: gRPC over mutual TLS (Python's grpcio),
`openssl s_client` showing the negotiated protocol and ALPN, the krpc CLI with and without a
client certificate, SIGHUP certificate reload, and the admin port's bearer token and HTTPS.

Certificates come from node/tests/make-test-certs (scripts/dev-certs) in a temporary folder.
"""
import os
import signal
import ssl
import subprocess
import tempfile
import urllib.error
import urllib.request

import grpc
import pytest

from conftest import Node
from examples import echo_pb2

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture(scope="module")
def certs():
    d = tempfile.mkdtemp(prefix="krpc-certs-")
    subprocess.run([os.path.join(HERE, "..", "make-test-certs"), d], check=True, capture_output=True)
    return d


def read(path):
    with open(path, "rb") as f:
        return f.read()


def tls_args(certs, mode="strict", client_auth="require", cert="server"):
    return [f"--tls_mode={mode}", f"--tls_client_auth={client_auth}",
            f"--tls_cert_file={certs}/{cert}.crt", f"--tls_key_file={certs}/{cert}.key",
            f"--tls_ca_file={certs}/ca.crt"]


@pytest.fixture(scope="module")
def mtls_node(certs):
    n = Node(*tls_args(certs), "--authz_allow=krpc.examples.UserService=spiffe://krpc.test/client/alice")
    yield n
    n.stop()


def secure_channel(node, certs, client="alice"):
    creds = grpc.ssl_channel_credentials(
        root_certificates=read(f"{certs}/ca.crt"),
        private_key=read(f"{certs}/{client}.key") if client else None,
        certificate_chain=read(f"{certs}/{client}.crt") if client else None)
    return grpc.secure_channel(node.target, creds, options=[("grpc.ssl_target_name_override", "localhost")])


def echo(channel, payload=b"hi", timeout=20):
    call = channel.unary_unary("/krpc.examples.EchoService/Echo",
                               request_serializer=echo_pb2.EchoRequest.SerializeToString,
                               response_deserializer=echo_pb2.EchoResponse.FromString)
    return call(echo_pb2.EchoRequest(payload=payload), timeout=timeout).payload


def test_grpcio_calls_over_mutual_tls(mtls_node, certs):
    with secure_channel(mtls_node, certs) as ch:
        assert echo(ch) == b"hi"
        assert echo(ch, b"x" * (1 << 20)) == b"x" * (1 << 20)


def test_grpcio_without_a_client_certificate_is_refused(mtls_node, certs):
    with secure_channel(mtls_node, certs, client=None) as ch:
        with pytest.raises(grpc.RpcError) as e:
            echo(ch, timeout=10)
        assert e.value.code() == grpc.StatusCode.UNAVAILABLE
    assert mtls_node.wait_for_log("failed (no_client_cert)")
    assert 'krpc_server_tls_handshakes_total{result="no_client_cert"}' in mtls_node.metrics()


def test_grpcio_is_denied_a_service_its_identity_is_not_allowed(mtls_node, certs):
    call = None
    with secure_channel(mtls_node, certs, client="bob") as ch:
        call = ch.unary_unary("/krpc.examples.UserService/Login")
        with pytest.raises(grpc.RpcError) as e:
            call(b"", timeout=10)
        assert e.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "spiffe://krpc.test/client/bob" in e.value.details()
        assert echo(ch) == b"hi"  # no rule for EchoService: open
    assert ('krpc_server_authz_denied_total{method="Login",service="krpc.examples.UserService"} 1'
            in mtls_node.metrics())


def test_openssl_s_client_shows_tls13_and_the_alpn_protocol(mtls_node, certs):
    for alpn, expect in (("h2", "ALPN protocol: h2"), ("krpc", "ALPN protocol: krpc"),
                         ("http/1.1", "No ALPN negotiated")):
        out = subprocess.run(
            ["openssl", "s_client", "-connect", mtls_node.target, "-alpn", alpn, "-CAfile", f"{certs}/ca.crt",
             "-cert", f"{certs}/alice.crt", "-key", f"{certs}/alice.key", "-verify_return_error"],
            input="", capture_output=True, encoding="utf-8", errors="replace", timeout=30)  # h2: binary SETTINGS
        text = out.stdout + out.stderr
        assert "New, TLSv1.3, Cipher is" in text, text
        assert expect in text, text
        assert "Verify return code: 0 (ok)" in text, text


def test_the_krpc_cli_needs_a_client_certificate(mtls_node, certs):
    cli = os.environ["KRPC_CLI"]
    base = [cli, "call", "--target", mtls_node.target, "/krpc.examples.EchoService/Echo", '{"payload":"aGk="}']
    ok = subprocess.run(base + ["--tls", f"--tls_ca_file={certs}/ca.crt", f"--tls_cert_file={certs}/alice.crt",
                                f"--tls_key_file={certs}/alice.key"], capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert "aGk=" in ok.stdout
    no_cert = subprocess.run(base + ["--tls", f"--tls_ca_file={certs}/ca.crt"], capture_output=True, text=True,
                             timeout=60)
    assert no_cert.returncode != 0
    assert "certificate required" in no_cert.stderr
    plain = subprocess.run(base, capture_output=True, text=True, timeout=60)
    assert plain.returncode != 0
    assert "TLS required" in plain.stderr


def test_sighup_reloads_the_certificate_files(certs):
    d = tempfile.mkdtemp(prefix="krpc-rotate-")
    for ext in ("crt", "key"):
        with open(f"{d}/node.{ext}", "wb") as f:
            f.write(read(f"{certs}/server.{ext}"))
    n = Node("--tls_mode=permissive", f"--tls_cert_file={d}/node.crt", f"--tls_key_file={d}/node.key",
             "--tls_reload_interval_ms=0")
    try:
        for ext in ("key", "crt"):
            with open(f"{d}/new", "wb") as f:
                f.write(read(f"{certs}/server2.{ext}"))
            os.rename(f"{d}/new", f"{d}/node.{ext}")
        n.proc.send_signal(signal.SIGHUP)
        assert n.wait_for_log("received SIGHUP: TLS reload: done")
        assert 'krpc_server_tls_reloads_total{result="ok"} 1' in n.metrics()
        out = subprocess.run(["openssl", "s_client", "-connect", n.target, "-CAfile", f"{certs}/ca.crt"],
                             input="", capture_output=True, encoding="utf-8", errors="replace", timeout=30).stdout
        served = subprocess.run(["openssl", "x509", "-noout", "-enddate"], input=out, capture_output=True,
                                text=True).stdout
        expected = subprocess.run(["openssl", "x509", "-noout", "-enddate", "-in", f"{certs}/server2.crt"],
                                  capture_output=True, text=True).stdout
        assert served == expected
        assert n.proc.poll() is None  # SIGHUP does not stop the node
    finally:
        n.stop()


def test_the_admin_token_guards_admin_paths_but_not_metrics(certs):
    token = os.path.join(tempfile.mkdtemp(prefix="krpc-token-"), "token")
    with open(token, "w") as f:
        f.write("s3cret\n")
    n = Node(f"--admin_token_file={token}")
    try:
        def status(path, auth=None, method="GET"):
            req = urllib.request.Request(f"http://127.0.0.1:{n.admin_port}{path}", method=method)
            if auth:
                req.add_header("Authorization", auth)
            try:
                with urllib.request.urlopen(req, timeout=10) as r:
                    return r.status
            except urllib.error.HTTPError as e:
                return e.code
        assert status("/metrics") == 200
        assert status("/healthz") == 200
        assert status("/readyz") == 200
        assert status("/admin/fault") == 401
        assert status("/admin/fault", "Bearer wrong") == 401
        assert status("/admin/fault", "Bearer s3cret") == 200
        assert status("/admin/fault", "Bearer s3cret", method="DELETE") == 200
        assert n.wait_for_log("refused GET /admin/fault: no bearer token")
    finally:
        n.stop()


def test_the_admin_port_serves_https(certs):
    n = Node(f"--admin_tls_cert_file={certs}/server.crt", f"--admin_tls_key_file={certs}/server.key")
    try:
        ctx = ssl.create_default_context(cafile=f"{certs}/ca.crt")
        with urllib.request.urlopen(f"https://localhost:{n.admin_port}/healthz", context=ctx, timeout=10) as r:
            assert r.read() == b"ok\n"
        with pytest.raises((urllib.error.URLError, ConnectionError)):
            urllib.request.urlopen(f"http://127.0.0.1:{n.admin_port}/healthz", timeout=10)
    finally:
        n.stop()


def test_a_missing_token_file_stops_start_up_naming_the_key():
    out = subprocess.run([os.environ["KRPC_NODE"], "--port=0", "--admin_port=0", "--admin_token_file=/nonexistent"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "admin_token_file" in out.stdout + out.stderr
