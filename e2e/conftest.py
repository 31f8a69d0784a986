"""Brings the compose cluster up once for the session and always tears it down."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import krpc_cluster as kc  # noqa: E402


@pytest.fixture(scope="session")
def report():
    r = kc.Report()
    yield r
    r.write()


@pytest.fixture(scope="session")
def cluster():
    kc.sh(os.path.join(kc.ROOT, "scripts", "docker-setup"), timeout=1800)
    try:
        kc.sh("scripts/cluster", "certs", timeout=120)  # the nodes and loadgen speak mutual TLS
        kc.compose("up", "-d", "--build", "--wait", "--wait-timeout", "300", timeout=2400)
        kc.wait_for(lambda: kc.registered() == kc.NODES, 60, what="all nodes registered")
        yield kc
    finally:
        logs = kc.compose("logs", "--no-color", "--tail", "200", check=False, timeout=60)
        os.makedirs(kc.RESULTS, exist_ok=True)
        with open(os.path.join(kc.RESULTS, "compose.log"), "w") as f:
            f.write(logs)
        kc.compose("down", "-v", "--remove-orphans", "--timeout", "20", check=False, timeout=300)
