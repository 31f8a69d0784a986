"""The web console in a real browser: a node registered in ZooKeeper under load from krpc-bench
(through a zk:// target, with its own admin port), both consoles opened in headless Chromium
(Debian's chromium); the rendered DOM must show charts with non-empty series and the tables
with the endpoints, the node's znodes and the providers it sees. Screenshots are kept."""
import json
import os
import re
import shutil
import subprocess
import tempfile
import urllib.request
from html.parser import HTMLParser

import pytest

from krpc_procs import free_port, wait_until

CHROMIUM = shutil.which("chromium")


class Dom(HTMLParser):
    """Attributes of every element with an id, and the text of every table (by id)."""

    def __init__(self, html):
        super().__init__()
        self.by_id, self.tables, self._open = {}, {}, []
        self.body = {}
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "body":
            self.body = a
        if "id" in a:
            self.by_id[a["id"]] = a
        if tag == "table" and "id" in a:
            self._open.append(a["id"])
            self.tables[a["id"]] = []
        if tag == "tr" and self._open:
            self.tables[self._open[-1]].append([])

    def handle_endtag(self, tag):
        if tag == "table" and self._open:
            self._open.pop()

    def handle_data(self, data):
        if self._open and self.tables[self._open[-1]] and data.strip():
            self.tables[self._open[-1]][-1].append(data.strip())


def chromium(url, *args):
    profile = tempfile.mkdtemp(prefix="krpc-chromium-")
    try:
        r = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                            f"--user-data-dir={profile}", "--virtual-time-budget=5000", *args, url],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr[-2000:]
        return r.stdout
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def get_json(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
        return json.loads(r.read())


def rate_points(series, side):
    return [v for m in series["methods"] if m["side"] == side and m["name"] == "krpc.examples.EchoService/Echo"
            for v in m["rate"] if v]


@pytest.fixture(scope="module")
def loaded(zk, node):
    """krpc-bench calling the node through ZooKeeper discovery, with an admin port."""
    admin = free_port()
    bench = subprocess.Popen([os.environ["KRPC_BENCH"], f"--target=zk://{zk.hosts}/krpc", "--concurrency=4",
                              "--duration=600", f"--admin_port={admin}"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        # Three one-second samples with calls, on both sides, before the browser looks.
        wait_until(lambda: len(rate_points(get_json(node.admin_port, "/console/series"), "server")) >= 3, 60,
                   "three server samples with calls")
        wait_until(lambda: len(rate_points(get_json(admin, "/console/series"), "client")) >= 3, 60,
                   "three client samples with calls")
        yield admin
    finally:
        bench.kill()
        bench.wait()


def screenshot(port, name):
    out_dir = os.environ.get("KRPC_CONSOLE_SCREENSHOT_DIR") or tempfile.mkdtemp()
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, name)
    chromium(f"http://127.0.0.1:{port}/", "--window-size=1400,1300", f"--screenshot={path}")
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20000, (path, len(data))


def assert_chart(dom, chart, min_points):
    attrs = dom.by_id.get("chart-" + chart)
    assert attrs, f"chart {chart} not rendered"
    assert int(attrs["data-series"]) >= 1 and int(attrs["data-points"]) >= min_points, attrs


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (scripts/install-deps installs it)")
def test_node_console_renders_charts_and_registry_tables(node, loaded):
    series = get_json(node.admin_port, "/console/series")
    echo = next(m for m in series["methods"] if m["name"] == "krpc.examples.EchoService/Echo")
    pairs = [(a, b) for a, b in zip(echo["p50_ms"], echo["p99_ms"]) if a is not None and b is not None]
    assert pairs and all(a <= b for a, b in pairs), echo
    assert len(series["t"]) == len(echo["rate"]) == len(series["totals"]["server_connections"])

    dom = Dom(chromium(f"http://127.0.0.1:{node.admin_port}/", "--dump-dom"))
    assert int(dom.body.get("data-updates", "0")) >= 1, dom.body
    for chart in ("rate", "p50", "p99", "conns", "bytes"):
        assert_chart(dom, chart, 3)
    assert_chart(dom, "errors", 1)
    assert_chart(dom, "overload", 3)
    assert_chart(dom, "streams", 3)
    assert ["krpc.examples.EchoService"] in dom.tables["services"], dom.tables["services"]
    assert dom.tables["node-streams"][0] == ["open", "messages received", "messages sent", "writes waiting"]
    znodes = [row[0] for row in dom.tables["znodes"][1:]]
    assert sorted(znodes) == [f"/krpc/services/{s}/providers/127.0.0.1:{node.port}" for s in
                              ("grpc.testing.TestService", "krpc.examples.EchoService", "krpc.examples.UserService")], znodes
    providers = dom.tables["providers"][1:]
    assert any(row[:2] == ["krpc.examples.EchoService", f"127.0.0.1:{node.port}"] for row in providers), providers
    registry = dom.tables["registry"][1]
    assert registry[:3] == ["true", "registered", "connected"], registry
    screenshot(node.admin_port, "console-node.png")


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (scripts/install-deps installs it)")
def test_client_console_renders_charts_and_the_endpoint_table(node, loaded):
    dom = Dom(chromium(f"http://127.0.0.1:{loaded}/", "--dump-dom"))
    assert int(dom.body.get("data-updates", "0")) >= 1
    for chart in ("rate", "p50", "p99", "conns"):
        assert_chart(dom, chart, 3)
    assert_chart(dom, "resilience", 1)
    rows = dom.tables["endpoints"]
    header = rows[0]
    for column in ("endpoint", "state", "breaker", "ejections", "conns active", "latency ewma µs"):
        assert column in header, header
    mine = [r for r in rows[1:] if r[1] == f"127.0.0.1:{node.port}" and r[0] == "krpc.examples.EchoService"]
    assert mine and mine[0][2] == "ready" and mine[0][3] == "closed", rows
    assert re.match(r"zk://", dom.tables["channels"][1][0]), dom.tables["channels"]
    screenshot(loaded, "console-client.png")
