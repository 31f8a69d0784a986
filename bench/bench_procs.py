"""Helpers the bench scripts share (standard library only): the test harness's real processes
(node/tests/krpc_procs.py: ZooKeeper, Node, free_port, wait_until) and readings of a running
node: its memory from /proc and its metrics from the admin port."""
import os
import sys
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "node", "tests"))
from krpc_procs import Node, ZooKeeper, free_port, wait_until  # noqa: E402,F401


def status_kb(pid, field):
    """A /proc/<pid>/status field in kB (VmRSS: resident now; VmHWM: the peak)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def metric(admin, name):
    """The value of the series `name` (with its labels, e.g. 'x{reason="y"}') on an admin port."""
    body = urllib.request.urlopen(f"http://127.0.0.1:{admin}/metrics", timeout=10).read().decode()
    for line in body.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{}"):
            return float(line.split()[-1])
    return 0.0


def admin_up(admin):
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{admin}/healthz", timeout=1)
        return True
    except OSError:
        return False
