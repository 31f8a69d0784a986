#!/usr/bin/python3
"""Overload benchmark: goodput under open-loop load, printed as markdown tables.

Part 1 (the large-message repro of issue 33): one krpc-node (--io_threads=1), `krpc bench`
open loop with 256 KiB Echo payloads, a 200 ms deadline and at most 5000 calls in flight, at
70 %, 100 % and 150 % of the closed-loop capacity measured first in the same run.

Part 2 (the load test): one node with one handler thread doing 1 ms of CPU per call (Echo
cpu_us=1000), pinned to CPU 0; `krpc bench --rate` on CPU 1 at 1x, 2x and 3x the capacity
measured closed loop, for max_inflight unlimited, a tuned static limit and auto. Goodput is
calls that succeeded within their deadline per second; p50/p99 are of those calls.

Part 3: three auto-limited nodes registered in a real ZooKeeper, behind one client (zk://), while
a second client overloads node 1 alone: the first client's load moves to the other two and none of its calls fails.

    bench/overload.py [--build build] [--duration 5] [--part 1|2|3|all]
Figures are ratios within one run; the machine is noisy (see docs/benchmarks.md).
"""
import argparse
import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

EXTRA = os.environ.get("KRPC_BENCH_EXTRA", "").split()
ECHO = "krpc.examples.EchoService/Echo"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Node:
    def __init__(self, build, args, cpu=None):
        self.port, self.admin = free_port(), free_port()
        cmd = [f"{build}/node/krpc-node", f"--port={self.port}", f"--admin_port={self.admin}",
               "--listen_host=127.0.0.1", "--admin_host=127.0.0.1", "--log_level=warn"] + args
        if cpu is not None:
            cmd = ["taskset", "-c", str(cpu)] + cmd
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(200):  # up to 10 s for the port to open
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("node did not start: " + " ".join(cmd))

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)


class ZooKeeper:
    """One ZooKeeper server (Debian's `zookeeper` package) on a free loopback port, as the tests
    run it (common/testing/zk_server.cc)."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="krpc-bench-zk-")
        self.port = free_port()
        os.makedirs(f"{self.dir}/data")
        with open(f"{self.dir}/zoo.cfg", "w") as f:
            f.write(f"tickTime=500\ndataDir={self.dir}/data\nclientPort={self.port}\nclientPortAddress=127.0.0.1\n"
                    "admin.enableServer=false\n4lw.commands.whitelist=ruok\n")
        log = open(f"{self.dir}/zookeeper.log", "w")
        self.proc = subprocess.Popen(["java", "-Xmx256m", f"-Dzookeeper.log.dir={self.dir}", "-cp",
                                      "/etc/zookeeper/conf:/usr/share/java/zookeeper.jar",
                                      "org.apache.zookeeper.server.quorum.QuorumPeerMain", f"{self.dir}/zoo.cfg"],
                                     stdout=log, stderr=log)
        for _ in range(600):  # up to 30 s to answer ruok
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as c:
                    c.sendall(b"ruok")
                    if c.recv(4) == b"imok":
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"ZooKeeper did not start (log: {self.dir}/zookeeper.log)")

    @property
    def hosts(self):
        return f"127.0.0.1:{self.port}"

    def stop(self):
        self.proc.kill()
        self.proc.wait(timeout=30)
        shutil.rmtree(self.dir, ignore_errors=True)


def registered(build, zk):
    """Providers of the Echo service registered in `zk` (`krpc list`)."""
    out = subprocess.run([f"{build}/tools/krpc", "list", "--zk", zk.hosts, "--format", "json"], capture_output=True,
                         text=True, timeout=60).stdout
    try:
        return [r for r in json.loads(out) if r["service"] == "krpc.examples.EchoService"]
    except ValueError:
        return []


def bench(build, node, data, extra, cpu=None):
    cmd = [f"{build}/tools/krpc", "bench", "--target", f"127.0.0.1:{node.port}", "-d", data,
           "--format", "json", "--progress", "off", "--max_attempts", "1", "--hedging_enabled=false"] + EXTRA + extra + [ECHO]
    if cpu is not None:
        cmd = ["taskset", "-c", str(cpu)] + cmd
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    return json.loads(out.stdout)


def row(label, r, offered=None):
    n = r["count"] or 1
    return (f"| {label} | {offered if offered is not None else '-'} | {r['goodput']:,.0f} | "
            f"{100.0 * r['ok'] / n:.1f} % | {r['ok_p50_ms']:.2f} | {r['ok_p99_ms']:.2f} | "
            f"{100.0 * r['refused'] / n:.1f} % |")


HEADER = ("| run | offered calls/s | goodput (OK/s) | OK share | OK p50 ms | OK p99 ms | refused |\n"
          "|---|---:|---:|---:|---:|---:|---:|")


def ok_answers(node):
    """Echo calls the node answered OK (krpc_server_requests_total{code="OK"})."""
    import re
    import urllib.request
    with urllib.request.urlopen(f"http://127.0.0.1:{node.admin}/metrics", timeout=5) as r:
        text = r.read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith("krpc_server_requests_total{") and 'code="OK"' in line and 'method="Echo"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def part1(build, duration, rounds=3):
    """Each round measures the closed-loop capacity, then runs open loop at 70 %, 100 % and 150 %
    of it at once (this machine's capacity drifts by +-20 % within minutes: a ratio is only
    meaningful against the capacity measured next to it). Prints every round and the median
    OK share per load."""
    payload = base64.b64encode(b"x" * 262144).decode()
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        f.write(json.dumps({"payload": payload}))
        data = "@" + f.name
    node = Node(build, ["--io_threads=1"])
    shares = {0.7: [], 1.0: [], 1.5: []}
    try:
        print(f"\nPart 1: 256 KiB Echo, node --io_threads=1, deadline 200 ms, at most 5000 calls in flight; "
              f"{rounds} rounds, each measuring the closed-loop capacity (64 in flight) before its open-loop runs. "
              f"Served in vain: answers the node sent OK that the caller did not get in time (the node's count "
              f"against the caller's)\n")
        print(HEADER.replace(" refused |", " refused | served in vain |").replace("|\n|", "|\n|", 1) + "---:|")
        for n in range(1, rounds + 1):
            cap = bench(build, node, data, ["--concurrency", "64", "--duration", str(duration), "--rpc_timeout_ms", "200"])
            capacity = cap["rps"]
            print(row(f"round {n}: closed loop, 64 in flight", cap) + " - |")
            for share in shares:
                rate = round(capacity * share)
                before = ok_answers(node)
                r = bench(build, node, data, ["--rate", str(rate), "--concurrency", "5000", "--duration",
                                              str(duration), "--rpc_timeout_ms", "200"])
                vain = ok_answers(node) - before - r["ok"]
                shares[share].append(100.0 * r["ok"] / max(r["count"], 1))
                print(row(f"round {n}: open loop at {int(share * 100)} %", r, f"{rate:,}") +
                      f" {100.0 * vain / max(r['count'], 1):.1f} % |")
        med = ", ".join(f"{int(k * 100)} %: {sorted(v)[len(v) // 2]:.1f} %" for k, v in shares.items())
        print(f"\nMedian OK share of offered calls by load: {med}")
    finally:
        node.stop()
        os.unlink(data[1:])


def part2(build, duration):
    data = json.dumps({"cpu_us": 1000})
    base = ["--io_threads=1", "--handler_threads=1"]
    configs = [("unlimited", ["--max_inflight=100000"]), ("static 4", ["--max_inflight=4"]),
               ("auto", ["--max_inflight=auto"])]
    common = ["--concurrency", "5000", "--duration", str(duration), "--rpc_timeout_ms", "1000"]
    node = Node(build, base + ["--max_inflight=100000"], cpu=0)
    try:
        capacity = bench(build, node, data, ["--concurrency", "4", "--duration", str(duration), "--rpc_timeout_ms", "1000"],
                         cpu=1)["rps"]
        unloaded = bench(build, node, data, ["--rate", str(round(capacity * 0.1))] + common, cpu=1)
    finally:
        node.stop()
    print(f"\nPart 2: Echo with 1 ms of CPU, one handler thread (CPU 0), bench on CPU 1, deadline 1 s; "
          f"closed-loop capacity {capacity:,.0f} calls/s; unloaded (10 %) OK p99 {unloaded['ok_p99_ms']:.2f} ms\n")
    print(HEADER)
    for name, args in configs:
        node = Node(build, base + args, cpu=0)
        try:
            bench(build, node, data, ["--rate", str(round(capacity * 0.5)), "--duration", "2"] + common[0:2] + common[4:],
                  cpu=1)  # warm-up (the adaptive limit measures its no-load latency)
            for mult in (1, 2, 3):
                rate = round(capacity * mult)
                r = bench(build, node, data, ["--rate", str(rate)] + common, cpu=1)
                print(row(f"{name} at {mult}x", r, f"{rate:,}"))
        finally:
            node.stop()


def part3(build, duration):
    """Three auto-limited nodes registered in ZooKeeper behind one client (zk://); a second
    client overloads node 1 alone. The first client's calls move to the other two and none fails."""
    data = json.dumps({"cpu_us": 1000})
    zk = ZooKeeper()
    base = ["--io_threads=1", "--handler_threads=1", "--max_inflight=auto", f"--zk_hosts={zk.hosts}",
            "--advertise_host=127.0.0.1"]
    nodes = []
    try:
        nodes = [Node(build, base) for _ in range(3)]
        for _ in range(600):  # up to 30 s for the three registrations
            if len(registered(build, zk)) == 3:
                break
            time.sleep(0.05)
        else:
            raise RuntimeError("the three nodes did not register")
        target = f"zk://{zk.hosts}/krpc"
        common = ["--concurrency", "5000", "--duration", str(duration), "--rpc_timeout_ms", "1000"]
        for n in nodes:  # warm-up: each limit measures its no-load latency
            bench(build, n, data, ["--rate", "100", "--duration", "1"] + common[0:2] + common[4:])
        cmd = [f"{build}/tools/krpc", "bench", "--target", target, "-d", data, "--format", "json", "--progress", "off",
               "--idempotent_methods", "/" + ECHO, "--rate", "600"] + common + [ECHO]
        print(f"\nPart 3: three auto-limited nodes (1 ms CPU, one handler thread each); client A at 600 calls/s over "
              f"zk:// (all three); then again while client B sends 1,500 calls/s to node 1 alone (its capacity is "
              f"~1,000)\n")
        print("| client | calls | failed | goodput (OK/s) | OK p99 ms | node 1 / 2 / 3 share of client A's OK answers |")
        print("|---|---:|---:|---:|---:|---|")
        for hammering in (False, True):
            before = [ok_answers(n) for n in nodes]
            hammer = None
            if hammering:
                hammer = subprocess.Popen(
                    [f"{build}/tools/krpc", "bench", "--target", f"127.0.0.1:{nodes[0].port}", "-d", data, "--format",
                     "json", "--progress", "off", "--max_attempts", "1", "--hedging_enabled=false", "--rate", "1500"] +
                    common + [ECHO], stdout=subprocess.PIPE, text=True)
            main_run = json.loads(subprocess.run(cmd, capture_output=True, text=True, timeout=600).stdout)
            hammered = json.loads(hammer.communicate(timeout=600)[0]) if hammer else None
            after = [ok_answers(n) for n in nodes]
            answered = [a - b for a, b in zip(after, before)]
            if hammered:
                answered[0] -= hammered["ok"]  # node 1's OK answers to client B are not client A's
            total = sum(answered) or 1
            shares = " / ".join(f"{100.0 * a / total:.0f} %" for a in answered)
            label = "A (all three), node 1 overloaded by B" if hammering else "A (all three) alone"
            print(f"| {label} | {main_run['count']:,} | {main_run['count'] - main_run['ok']} | {main_run['goodput']:,.0f} | "
                  f"{main_run['ok_p99_ms']:.2f} | {shares} |")
            for msg, n in sorted(main_run.get("error_distribution", {}).items(), key=lambda kv: -kv[1])[:3]:
                print(f"<!-- A failed {n}: {msg} -->")
            if hammered:
                print(f"| B (node 1 only) | {hammered['count']:,} | {hammered['count'] - hammered['ok']:,} | "
                      f"{hammered['goodput']:,.0f} | {hammered['ok_p99_ms']:.2f} | - |")
    finally:
        for n in nodes:
            n.stop()
        zk.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--part", default="all")
    a = ap.parse_args()
    if a.part in ("1", "all"):
        part1(a.build, a.duration)
    if a.part in ("2", "all"):
        part2(a.build, a.duration)
    if a.part in ("3", "all"):
        part3(a.build, a.duration)


if __name__ == "__main__":
    sys.exit(main())
