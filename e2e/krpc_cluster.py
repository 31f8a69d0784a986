"""Helpers for driving the compose cluster from tests: docker commands, admin endpoints,
Prometheus, the loadgen's accounting, and the scenario report. Standard library only."""
import json
import os
import re
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NODES = ["node1", "node2", "node3"]
ZKS = ["zk1", "zk2", "zk3"]
ZK_PORTS = {"zk1": 2181, "zk2": 2182, "zk3": 2183}  # published on 127.0.0.1
ZK_HOSTS = "zk1:2181,zk2:2181,zk3:2181"
ADMIN = {"node1": 9101, "node2": 9102, "node3": 9103, "loadgen": 9100}
SESSION_TIMEOUT_S = 6.0  # KRPC_ZK_SESSION_TIMEOUT_MS in docker-compose.yml
RESULTS = os.path.join(ROOT, "e2e", "results")


def sh(*args, timeout=120, check=True, env=None):
    """Runs a command in the project root (with `env` added to the environment); returns stdout."""
    r = subprocess.run(list(args), cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                       env={**os.environ, **env} if env else None)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({r.returncode}): {r.stderr.strip()[-2000:]}")
    return r.stdout


def compose(*args, timeout=600, check=True, env=None):
    return sh("docker", "compose", *args, timeout=timeout, check=check, env=env)


def http(method, port, path, body=None, timeout=5):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method,
                                 data=body.encode() if body is not None else None)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def get_json(port, path):
    status, body = http("GET", port, path)
    assert status == 200, (port, path, status, body)
    return json.loads(body)


def metrics(port):
    """Parses a /metrics page into {series: value}."""
    status, body = http("GET", port, "/metrics")
    assert status == 200, body
    out = {}
    for line in body.splitlines():
        if line and not line.startswith("#"):
            series, _, value = line.rpartition(" ")
            out[series] = float(value)
    return out


def metric_sum(values, name, **labels):
    """Sum of the series of `name` whose labels include `labels`."""
    total = 0.0
    for series, v in values.items():
        if series == name or series.startswith(name + "{"):
            if all(f'{k}="{val}"' in series for k, val in labels.items()):
                total += v
    return total


def wait_for(pred, timeout, interval=0.25, what="condition"):
    """Polls pred() until it returns truthy; returns (value, seconds). Fails after timeout."""
    start = time.monotonic()
    while True:
        v = pred()
        if v:
            return v, time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def tcp(port, timeout=10):
    """A plaintext TCP connection to a port published on 127.0.0.1."""
    return socket.create_connection(("127.0.0.1", port), timeout=timeout)


def mtls(port, server_name, client="cli", timeout=10):
    """A mutual-TLS connection (TLS 1.3, ALPN krpc) to a node's published RPC port, with the
    development CA and the `client` certificate from .cluster/certs."""
    certs = os.path.join(ROOT, ".cluster", "certs")
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=os.path.join(certs, "ca.crt"))
    ctx.load_cert_chain(os.path.join(certs, f"{client}.crt"), os.path.join(certs, f"{client}.key"))
    ctx.set_alpn_protocols(["krpc"])
    s = ctx.wrap_socket(tcp(port, timeout), server_hostname=server_name)
    return s


def read_until_closed(s, timeout=10):
    """Reads until the peer closes the connection (or resets it); fails after timeout."""
    s.settimeout(timeout)
    try:
        while s.recv(65536):
            pass
    except (ConnectionResetError, ssl.SSLError, ssl.SSLEOFError):
        pass


def registered(service="krpc.examples.EchoService"):
    """Nodes with a znode for `service`, asked from a container through `krpc list`."""
    out = compose("exec", "-T", "loadgen", "krpc", "list", "--zk", ZK_HOSTS, "--format", "json",
                  timeout=30, check=False)
    try:
        rows = json.loads(out)
    except ValueError:
        return None
    return sorted(r["provider"].split(":")[0] for r in rows if r["service"] == service)


def loadgen_bench(target, data, *flags):
    """`krpc bench` from the loadgen's container (its certificate, mutual TLS) as a second
    client; a Popen whose stdout is the bench's JSON report."""
    certs = "/etc/krpc/certs"
    return subprocess.Popen(
        ["docker", "compose", "exec", "-T", "loadgen", "krpc", "bench", "--target", target, "-d", data,
         "--format", "json", "--progress", "off", "--tls", f"--tls_ca_file={certs}/ca.crt",
         f"--tls_cert_file={certs}/loadgen.crt", f"--tls_key_file={certs}/loadgen.key", *flags,
         "krpc.examples.EchoService/Echo"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def loadgen_reset():
    status, _ = http("POST", ADMIN["loadgen"], "/stats/reset")
    assert status == 200


def loadgen_stats():
    return get_json(ADMIN["loadgen"], "/stats")


def endpoint_state(node, service="krpc.examples.EchoService"):
    """The loadgen's view of `node` for `service`: its endpoint entry from /status, or None."""
    status = get_json(ADMIN["loadgen"], "/status")
    for ch in status["channels"]:
        for e in ch["endpoints"]:
            if e["address"].startswith(node + ":") and e["service"] == service:
                return e
    return None


def breakers(node):
    """{service: breaker state} of `node` in every route of the loadgen (Echo and UserService)."""
    status = get_json(ADMIN["loadgen"], "/status")
    return {e["service"]: e["breaker"] for ch in status["channels"] for e in ch["endpoints"]
            if e["address"].startswith(node + ":")}


def isolated(node):
    """True when every route of the loadgen has `node`'s breaker open or half-open."""
    b = breakers(node)
    return bool(b) and all(state != "closed" for state in b.values())


def recovered(node):
    """True when every route of the loadgen has `node`'s breaker closed."""
    b = breakers(node)
    return bool(b) and all(state == "closed" for state in b.values())


def breaker(node):
    e = endpoint_state(node)
    return e["breaker"] if e else None


def shares(stats):
    ok = stats["ok_by_endpoint"]
    total = sum(ok.values()) or 1
    return {n: ok.get(f"{n}:7000", 0) / total for n in NODES}


def prometheus_query(q):
    status, body = http("GET", 9090, "/api/v1/query?" + urllib.parse.urlencode({"query": q}))
    assert status == 200, body
    return json.loads(body)["data"]["result"]


def zk_mode(server):
    """'leader', 'follower', 'standalone', or None when `server` does not answer (4lw srvr)."""
    import socket
    try:
        with socket.create_connection(("127.0.0.1", ZK_PORTS[server]), timeout=2) as c:
            c.sendall(b"srvr")
            data = b""
            while chunk := c.recv(4096):
                data += chunk
    except OSError:
        return None
    m = re.search(rb"^Mode: (\w+)", data, re.M)
    return m.group(1).decode() if m else None


def zk_leader():
    for z in ZKS:
        if zk_mode(z) == "leader":
            return z
    return None


def host_pid(container):
    """The host pid of a container's main process (for SIGSTOP/SIGCONT from the host)."""
    return int(sh("docker", "inspect", "-f", "{{.State.Pid}}", f"krpc-{container}-1").strip())


def failures(stats):
    """A failed-call report that pytest does not cut short (it shortens a message that is not a
    string): the codes and the loadgen's samples (its first failures, with their error texts)
    come before the rest of the stats."""
    return (f"failed_by_code={stats.get('failed_by_code')} samples={stats.get('failure_samples')} "
            f"stats={json.dumps(stats, sort_keys=True)}")


def assert_no_failures(stats, what=""):
    """No call failed at all, writes included."""
    assert stats["failed"] == 0, f"{what} {failures(stats)}"


def assert_nothing_lost(stats, what=""):
    """The e2e suite's promise: no idempotent call failed, the loadgen never fell behind, and
    hedges stayed within their budget (10 % of requests, plus the window's start-up slack)."""
    assert stats["idempotent"]["failed"] == 0, f"{what} {failures(stats)}"
    assert stats["skipped"] == 0, (what, stats)
    assert stats["hedges"] <= 0.1 * stats["calls"] + 100, (what, stats)


def healthy(container):
    out = sh("docker", "inspect", "-f", "{{.State.Health.Status}}", f"krpc-{container}-1", check=False)
    return out.strip() == "healthy"


class Report:
    """Per-scenario figures, written to e2e/results/report.{json,md} (not committed)."""

    def __init__(self):
        self.rows = []

    def add(self, scenario, stats, **figures):
        row = {"scenario": scenario, "calls": stats.get("calls", 0),
               "rate": round(stats.get("calls", 0) / max(stats.get("seconds", 1), 1e-9)),
               "idempotent_failed": stats.get("idempotent", {}).get("failed", 0),
               "writes": stats.get("non_idempotent", {}).get("calls", 0),
               "writes_failed": stats.get("non_idempotent", {}).get("failed", 0),
               "retries": stats.get("retries", 0), "hedges": stats.get("hedges", 0),
               "hedges_won": stats.get("hedges_won", 0),
               "p50_ms": round(stats.get("p50_us", 0) / 1000, 2), "p99_ms": round(stats.get("p99_us", 0) / 1000, 2)}
        row.update({k: (round(v, 2) if isinstance(v, float) else v) for k, v in figures.items()})
        self.rows.append(row)

    def write(self):
        os.makedirs(RESULTS, exist_ok=True)
        with open(os.path.join(RESULTS, "report.json"), "w") as f:
            json.dump(self.rows, f, indent=2)
        keys = ["scenario", "calls", "rate", "idempotent_failed", "writes", "writes_failed", "retries", "hedges",
                "hedges_won", "p50_ms", "p99_ms"]
        extra = sorted({k for r in self.rows for k in r} - set(keys))
        lines = ["| " + " | ".join(keys + extra) + " |", "|" + "---|" * (len(keys) + len(extra))]
        for r in self.rows:
            lines.append("| " + " | ".join(str(r.get(k, "")) for k in keys + extra) + " |")
        with open(os.path.join(RESULTS, "report.md"), "w") as f:
            f.write("\n".join(lines) + "\n")


import urllib.parse  # noqa: E402  (used by prometheus_query)
