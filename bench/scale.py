#!/usr/bin/env python3
"""Scale (issue 17, goal 7): a discovery update of a 1,000-provider service, and 10,000
concurrent connections with calls in flight. Standard library only; a real ZooKeeper (Debian's
package) and real processes.

  python3 bench/scale.py [--build build] [--providers 1000] [--connections 10000]

1. Starts ZooKeeper and runs krpc-discovery-bench: the first resolve of N providers, then
   providers joining, leaving and re-registering, each timed from ZooKeeper's confirmation of
   the write to the channel's endpoint set showing it.
2. Starts a krpc-node (2 I/O threads) and krpc-bench with --connections C --concurrency C (one
   call in flight on every connection, all the time: a heavier load than "now and then"),
   waits for the node's connection gauge to reach C (the warm-up lets all connect), and records the node's RSS before, at C
   connections, its peak (VmHWM), the calls, their errors, and the calls/s.
Prints the figures and Markdown rows for docs/benchmarks.md."""
import argparse
import json
import os
import resource
import subprocess

from bench_procs import ROOT, ZooKeeper, admin_up, free_port, metric, status_kb, wait_until


def discovery(build, providers, rounds):
    zk = ZooKeeper()
    try:
        out = subprocess.run([os.path.join(build, "client-sdk", "krpc-discovery-bench"), "--zk", zk.hosts,
                              "--providers", str(providers), "--rounds", str(rounds)],
                             check=True, capture_output=True, text=True, timeout=600).stdout
    finally:
        zk.stop()
    print(out, end="")
    return json.loads(out.strip().splitlines()[-1])


def connections(build, n, duration):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 2 * n + 4096)), hard))
    port, admin = free_port(), free_port()
    node = subprocess.Popen([os.path.join(build, "node", "krpc-node"), "--listen_host", "127.0.0.1", "--port", str(port),
                             "--admin_host", "127.0.0.1", "--admin_port", str(admin), "--io_threads", "2",
                             "--max_connections", str(n + 1000), "--log_level", "warn"], stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: admin_up(admin), 30, "the node to start")
        rss_start = status_kb(node.pid, "VmRSS")
        bench = subprocess.Popen([os.path.join(build, "tools", "krpc-bench"), "--port", str(port),
                                  "--connections", str(n), "--concurrency", str(n), "--warmup", "8",
                                  "--duration", str(duration), "--rpc_timeout_ms", "30000", "--server_pid", str(node.pid),
                                  # 10,000 connects in the same instant overflow the SYN queue; a
                                  # dropped SYN is resent after 1 s, past the 200 ms default
                                  "--connect_timeout_ms", "10000"],
                                 stdout=subprocess.PIPE, text=True)
        wait_until(lambda: metric(admin, "krpc_server_connections") >= n or bench.poll() is not None, 120,
                   f"{n} connections")
        open_conns = int(metric(admin, "krpc_server_connections"))
        rss_at_n = status_kb(node.pid, "VmRSS")
        out, _ = bench.communicate(timeout=duration + 120)
        result = json.loads(out.strip().splitlines()[-1])
        rss_peak = status_kb(node.pid, "VmHWM")
    finally:
        node.terminate()
        node.wait()
    row = {"connections": n, "open_at_peak": open_conns, "calls": result["calls"], "errors": result["errors"],
           "qps": result["qps"], "p50_us": result["p50_us"], "p99_us": result["p99_us"],
           "rss_start_mb": rss_start / 1024, "rss_at_n_mb": rss_at_n / 1024, "rss_peak_mb": rss_peak / 1024,
           "server_cpu_pct": result.get("server_cpu_pct")}
    print(json.dumps(row))
    return row


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--providers", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--connections", type=int, default=10000)
    ap.add_argument("--duration", type=float, default=5)
    args = ap.parse_args()
    d = discovery(args.build, args.providers, args.rounds)
    c = connections(args.build, args.connections, args.duration)
    print("\n| measurement | figure |\n|---|---|")
    print(f"| first resolve of {d['providers']} providers | {d['first_resolve_ms']:.1f} ms |")
    for what in ("join", "leave", "reregister"):
        print(f"| a provider {what}s (median / max of {args.rounds}) | {d[what + '_ms_median']:.1f} ms / "
              f"{d[what + '_ms_max']:.1f} ms |")
    print(f"| {c['connections']} connections, one call in flight on each | {c['calls']:,} calls, "
          f"{c['errors']} errors, {c['qps']:,.0f} calls/s, p50 {c['p50_us']:,.0f} us, p99 {c['p99_us']:,.0f} us |")
    print(f"| node RSS: started / at {c['open_at_peak']} connections / peak | {c['rss_start_mb']:.1f} MB / "
          f"{c['rss_at_n_mb']:.1f} MB / {c['rss_peak_mb']:.1f} MB |")


if __name__ == "__main__":
    main()
