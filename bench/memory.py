#!/usr/bin/env python3
"""Memory of a krpc-node under hostile or idle connections (standard library only).

  python3 bench/memory.py [--node build/node/krpc-node] [--idle 10000] [--half 1000]

Starts a node on loopback, then measures its RSS (VmRSS from /proc):
  1. idle:  N connections that connect and send nothing (each held open);
  2. half:  M connections that each send the first half of a 4 MiB request frame and stop
            (the node's max_pending_frame_bytes budget, default 512 MiB, bounds what it holds);
and after each set is closed again. Prints one line per step and a Markdown table for
docs/benchmarks.md. The node's connection count (admin /metrics) is awaited, not slept on."""
import argparse
import resource
import socket
import struct
import subprocess
import time

from bench_procs import admin_up, free_port, metric, status_kb, wait_until


def rss_mb(pid):
    return status_kb(pid, "VmRSS") / 1024


def wait_for(pred, what, limit=120):
    wait_until(pred, limit, what, interval=0.1)


def half_frame():
    method = b"/krpc.examples.EchoService/Echo"
    header = b"\x08\x01" + b"\x12" + bytes([len(method)]) + method
    body_len = 4 * 1024 * 1024 - 1024
    prefix = b"KRPC" + bytes([1, 1, 0, 0]) + struct.pack(">II", len(header) + body_len, len(header))
    return prefix + header + b"\x0a" + b"\x80\xf8\xff\x01" + b"z" * (body_len // 2)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--node", default="build/node/krpc-node")
    ap.add_argument("--idle", type=int, default=10000)
    ap.add_argument("--half", type=int, default=1000)
    args = ap.parse_args()
    want = args.idle + 1000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, want + 1000)), hard))
    port, admin = free_port(), free_port()
    node = subprocess.Popen([args.node, "--listen_host", "127.0.0.1", "--port", str(port), "--admin_port", str(admin),
                             "--admin_host", "127.0.0.1", "--io_threads", "2", "--max_connections", str(want),
                             "--heartbeat_interval_ms", "600000", "--frame_timeout_ms", "600000", "--log_level", "warn"],
                            stderr=subprocess.DEVNULL)
    rows = []
    try:
        wait_for(lambda: admin_up(admin), "the node to start")
        base = rss_mb(node.pid)
        rows.append(("node started", 0, base))
        conns = []
        for _ in range(args.idle):
            conns.append(socket.create_connection(("127.0.0.1", port)))
        wait_for(lambda: metric(admin, "krpc_server_connections") >= args.idle, "idle connections")
        rows.append((f"{args.idle} idle connections", args.idle, rss_mb(node.pid)))
        for c in conns:
            c.close()
        wait_for(lambda: metric(admin, "krpc_server_connections") == 0, "idle connections to close")
        rows.append(("after they closed", 0, rss_mb(node.pid)))
        frame = half_frame()
        conns = []
        for _ in range(args.half):
            c = socket.create_connection(("127.0.0.1", port))
            try:
                c.sendall(frame)
            except OSError:
                pass  # closed by the node: over its budget
            conns.append(c)
        wait_for(lambda: metric(admin, "krpc_server_received_bytes_total") > 0, "bytes to arrive")
        time.sleep(1)  # let the node drain its socket buffers into frames (a measurement window)
        held = rss_mb(node.pid)
        errors = metric(admin, 'krpc_server_frame_errors_total{reason="memory_budget"}')
        rows.append((f"{args.half} half-sent 4 MiB frames ({int(errors)} closed over budget)", args.half, held))
        for c in conns:
            c.close()
        wait_for(lambda: metric(admin, "krpc_server_connections") == 0, "half-frame connections to close")
        rows.append(("after they closed", 0, rss_mb(node.pid)))
    finally:
        node.terminate()
        node.wait()
    for what, n, mb in rows:
        print(f"{what:60s} RSS {mb:8.1f} MB")
    print("\n| step | connections | node RSS |\n|---|---|---|")
    for what, n, mb in rows:
        print(f"| {what} | {n} | {mb:.1f} MB |")


if __name__ == "__main__":
    main()
