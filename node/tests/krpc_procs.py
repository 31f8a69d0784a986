"""Real processes for the Python tests (pytest from Debian's python3-pytest): a krpc-node on
free loopback ports, a standalone ZooKeeper (Debian's zookeeper package), free ports.

Environment (set by ctest): KRPC_NODE, KRPC_BENCH, KRPC_CLI (binaries), PROTOC, PROTO_DIR.
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request


def free_port():
    """A loopback port free right now (bind to 0, read it, close)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(pred, timeout, what="condition", interval=0.05):
    """Polls pred() until truthy (returns its value); raises after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)  # polling a condition, bounded by the deadline


class ZooKeeper:
    """A standalone ZooKeeper server (Debian's package, run with java) on a free loopback port."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="krpc-zk-")
        self.port = free_port()
        with open(os.path.join(self.dir, "zoo.cfg"), "w") as f:
            f.write(f"tickTime=500\ninitLimit=10\nsyncLimit=5\ndataDir={self.dir}/data\n"
                    f"clientPort={self.port}\nclientPortAddress=127.0.0.1\nadmin.enableServer=false\n"
                    "4lw.commands.whitelist=ruok\n")
        self.proc = subprocess.Popen(
            ["java", "-Xmx256m", f"-Dzookeeper.log.dir={self.dir}", "-cp",
             "/etc/zookeeper/conf:/usr/share/java/zookeeper.jar",
             "org.apache.zookeeper.server.quorum.QuorumPeerMain", os.path.join(self.dir, "zoo.cfg")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(self._ok, 60, "ZooKeeper to answer ruok")
        self.hosts = f"127.0.0.1:{self.port}"

    def _ok(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"ruok")
                return s.recv(4) == b"imok"
        except OSError:
            return False

    def stop(self):
        self.proc.kill()
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


class Node:
    """A krpc-node process on free loopback ports; the ports are read from its log."""

    def __init__(self, *args, binary=None, fault_injection=True):
        extra = ["--enable_fault_injection=true"] if fault_injection else []
        self.proc = subprocess.Popen(
            [binary or os.environ["KRPC_NODE"], "--listen_host=127.0.0.1", "--port=0", "--admin_host=127.0.0.1",
             "--admin_port=0", "--log_level=info", *extra, *args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines = []
        self.port = self.admin_port = None
        ready = threading.Event()

        def pump():
            for line in self.proc.stdout:
                self.lines.append(line)
                if m := re.search(r"listening on [\d.]+:(\d+)", line):
                    self.port = int(m.group(1))
                if m := re.search(r"admin HTTPS? on [\d.]+:(\d+)", line):
                    self.admin_port = int(m.group(1))
                if self.port and self.admin_port:
                    ready.set()
            ready.set()

        threading.Thread(target=pump, daemon=True).start()
        if not ready.wait(60) or not (self.port and self.admin_port):
            self.proc.kill()
            raise RuntimeError("krpc-node did not start:\n" + "".join(self.lines))
        self.target = f"127.0.0.1:{self.port}"

    def admin(self, method, path, body=None):
        req = urllib.request.Request(f"http://127.0.0.1:{self.admin_port}{path}", method=method,
                                     data=body.encode() if body is not None else None)
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.read().decode()

    def wait_for_log(self, text, timeout=30):
        """True once a log line containing `text` arrived (logging is asynchronous)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(text in line for line in list(self.lines)):
                return True
            time.sleep(0.02)  # polling a condition, bounded by the deadline
        return False

    def metrics(self):
        return self.admin("GET", "/metrics")

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(60)


