"""Fixtures for the tools tests: a real ZooKeeper, a krpc-node and the standalone example's
Greeter server registered in it, and a helper that runs the krpc CLI.

Environment (set by ctest): KRPC_NODE, KRPC_CLI, KRPC_BENCH, KRPC_GREETER, GREETER_PROTO,
PYTHONPATH (node/tests, for krpc_procs).
"""
import os
import subprocess

import pytest

from krpc_procs import Node, ZooKeeper


@pytest.fixture(scope="session")
def zk():
    z = ZooKeeper()
    yield z
    z.stop()


@pytest.fixture(scope="session")
def node(zk):
    """krpc-node (the example Echo and User services), registered in ZooKeeper."""
    n = Node(f"--zk_hosts={zk.hosts}", "--advertise_host=127.0.0.1", "--node_id=node-a")
    yield n
    n.stop()


@pytest.fixture(scope="session")
def greeter(zk):
    """The standalone example's Greeter (greet.Greeter, which the CLI is not built with)."""
    g = Node(f"--zk_hosts={zk.hosts}", "--advertise_host=127.0.0.1", binary=os.environ["KRPC_GREETER"],
             fault_injection=False)
    yield g
    g.stop()


def krpc(*args, stdin=None, timeout=120):
    """Runs the krpc CLI; returns the CompletedProcess (text)."""
    return subprocess.run([os.environ["KRPC_CLI"], *args], input=stdin, capture_output=True, text=True,
                          timeout=timeout)
