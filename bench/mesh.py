#!/usr/bin/env python3
"""The mesh path (issue 17, goal 6): calls/s through a zk:// target over three local nodes with
the whole client stack on (p2c, breakers, retries, hedging for the idempotent Echo, the outlier
sweep, client and node metrics) against a direct single-endpoint channel to one node, with the
same concurrency, the same total server I/O threads (three nodes of one thread against one
node of three) and the same client (2 I/O threads). A direct channel with three connections
(what the mesh channel holds: one per node) is measured too. Standard library only; a real ZooKeeper (Debian's package) and real processes.

  python3 bench/mesh.py [--build build] [--reps 5] [--duration 4] [--conc 16,128]

Runs direct and mesh back to back per repetition (pairs share machine conditions) and prints
each run's JSON, the per-pair mesh/direct ratios and their median per concurrency, and
Markdown rows for docs/benchmarks.md."""
import argparse
import json
import os
import statistics
import subprocess

from bench_procs import ROOT, Node, ZooKeeper, wait_until

MESH_FLAGS = ["--load_balancer", "p2c", "--breaker_enabled", "true", "--max_attempts", "3",
              "--hedging_enabled", "true", "--idempotent_methods", "/krpc.examples.EchoService/Echo",
              "--metrics", "true"]


def run(bench, target, conc, duration, server_pids, extra, connections=1):
    out = subprocess.run([bench, "--target", target, "--concurrency", str(conc), "--connections", str(connections),
                          "--duration", str(duration), "--warmup", "1", "--server_pid", str(server_pids[0]),
                          "--threads", "2", *extra],
                         check=True, capture_output=True, text=True, timeout=duration + 120).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--duration", type=float, default=4)
    ap.add_argument("--conc", default="16,128")
    args = ap.parse_args()
    os.environ.setdefault("KRPC_NODE", os.path.join(args.build, "node", "krpc-node"))
    bench = os.path.join(args.build, "tools", "krpc-bench")
    zk = ZooKeeper()
    nodes = []
    try:
        direct = Node("--io_threads=3", fault_injection=False)
        nodes.append(direct)
        mesh = [Node(f"--zk_hosts={zk.hosts}", "--advertise_host=127.0.0.1", f"--node_id=mesh-{i}", "--io_threads=1",
                     fault_injection=False) for i in range(3)]
        nodes += mesh
        target = f"zk://{zk.hosts}/krpc"
        # Wait until ZooKeeper lists all three for Echo and User (what a fresh mesh client sees).
        wait_until(lambda: subprocess.run([os.path.join(args.build, "tools", "krpc"), "list", "--zk", zk.hosts,
                                           "--format", "json"], capture_output=True, text=True).stdout.count(
            "127.0.0.1:") >= 3 * 2, 60, "three nodes in ZooKeeper")
        ratios = {}
        rows = {}
        for rep in range(args.reps):
            for conc in [int(c) for c in args.conc.split(",")]:
                d = run(bench, direct.target, conc, args.duration, [direct.proc.pid], ["--metrics", "true"])
                # The mesh channel holds one connection per node (3): the direct channel with
                # 3 connections too separates the connection count from the mesh machinery.
                d3 = run(bench, direct.target, conc, args.duration, [direct.proc.pid], ["--metrics", "true"], 3)
                m = run(bench, target, conc, args.duration, [mesh[0].proc.pid], MESH_FLAGS)
                print(f"rep={rep + 1} conc={conc} direct   {json.dumps(d)}")
                print(f"rep={rep + 1} conc={conc} direct x3 {json.dumps(d3)}")
                print(f"rep={rep + 1} conc={conc} mesh     {json.dumps(m)}")
                ratios.setdefault(conc, []).append((m["qps"] / d["qps"], m["qps"] / d3["qps"]))
                rows.setdefault(conc, []).append((d, d3, m))
        print("\n| config | direct, 1 conn (median) | direct, 3 conns (median) | mesh (median) | "
              "per-pair mesh/direct | median mesh/direct | per-pair mesh/direct-3 | median mesh/direct-3 | mesh errors |")
        print("|---|---:|---:|---:|---|---:|---|---:|---:|")
        for conc, rs in ratios.items():
            dq = statistics.median(r[0]["qps"] for r in rows[conc])
            d3q = statistics.median(r[1]["qps"] for r in rows[conc])
            mq = statistics.median(r[2]["qps"] for r in rows[conc])
            errs = sum(r[2]["errors"] for r in rows[conc])
            print(f"| 64 B, C={conc} | {dq:,.0f} | {d3q:,.0f} | {mq:,.0f} | {', '.join(f'{a:.3f}' for a, _ in rs)} | "
                  f"**{statistics.median(a for a, _ in rs):.3f}** | {', '.join(f'{b:.3f}' for _, b in rs)} | "
                  f"**{statistics.median(b for _, b in rs):.3f}** | {errs} |")
    finally:
        for n in nodes:
            n.stop()
        zk.stop()


if __name__ == "__main__":
    main()
