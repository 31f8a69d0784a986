"""The e2e fault-injection suite: each scenario drives the loadgen's traffic (2,000 calls/s by
default: idempotent reads and non-idempotent writes) through ZooKeeper discovery, injects a
fault, asserts from metrics and the loadgen's per-call accounting, and restores the cluster.
Every scenario asserts that no idempotent call failed over its whole window, fault included
(writes that may have run may fail by design; they are reported). Bounded: every wait has a
timeout."""
import json
import time

import pytest

WINDOW_S = 8
SETTLE_S = 1.5  # longer than the loadgen's rpc_timeout_ms: calls started before a fault is isolated have ended


@pytest.fixture(autouse=True)
def restored(cluster):
    """Before and after every scenario: no faults, every container running and healthy."""
    kc = cluster

    def restore():
        for n in kc.NODES:
            kc.sh("docker", "unpause", f"krpc-{n}-1", check=False)
            try:
                kc.sh("kill", "-CONT", str(kc.host_pid(n)), check=False)
            except (RuntimeError, ValueError):
                pass
            kc.sh("docker", "network", "connect", "--alias", n, "krpc_default", f"krpc-{n}-1", check=False)
        kc.compose("start", check=False, timeout=120)
        for z in kc.ZKS:
            kc.wait_for(lambda z=z: kc.healthy(z), 90, what=f"{z} healthy")
        for n in kc.NODES:
            kc.wait_for(lambda n=n: kc.healthy(n), 90, what=f"{n} healthy")
            kc.http("DELETE", kc.ADMIN[n], "/admin/fault")
        kc.wait_for(lambda: kc.registered() == kc.NODES, 60, what="all nodes registered")
        kc.wait_for(lambda: all(kc.recovered(n) for n in kc.NODES), 60, what="all breakers closed")

    restore()
    yield
    restore()


def test_01_baseline(cluster, report):
    kc = cluster
    kc.loadgen_reset()
    time.sleep(WINDOW_S)
    s = kc.loadgen_stats()
    assert s["calls"] >= 0.9 * 2000 * WINDOW_S, f"the loadgen keeps its rate: {s['calls']} calls in {s['seconds']:.1f} s"
    kc.assert_no_failures(s)
    kc.assert_nothing_lost(s)
    shares = kc.shares(s)
    spread = ", ".join(f"{n} {share:.1%}" for n, share in shares.items())
    for n, share in shares.items():
        assert 0.283 <= share <= 0.383, f"{n} got {share:.1%} (each within 15 % of a third): {spread}"
    report.add("1 baseline", s, p99_ms=s["p99_us"] / 1000, **{f"{n}_share": v for n, v in shares.items()})


def test_02_node_killed(cluster, report):
    kc = cluster
    kc.loadgen_reset()
    t0 = time.monotonic()
    kc.sh("docker", "kill", "-s", "KILL", "krpc-node2-1")
    # The loadgen marks node2 unhealthy (connect failures put it in backoff; breaker if calls pile up).
    kc.wait_for(lambda: (e := kc.endpoint_state("node2")) is None or e["state"] in ("backoff", "idle", "connecting")
                or e["breaker"] != "closed", 10, what="node2 marked unhealthy")
    _, gone_s = kc.wait_for(lambda: kc.registered() == ["node1", "node3"], kc.SESSION_TIMEOUT_S + 6,
                            what="node2's znode to expire")
    kc.wait_for(lambda: kc.endpoint_state("node2") is None, 5, what="node2 dropped by the loadgen")
    time.sleep(3)
    s = kc.loadgen_stats()
    kc.assert_nothing_lost(s)
    assert s["ok_by_endpoint"].get("node1:7000", 0) > 0 and s["ok_by_endpoint"].get("node3:7000", 0) > 0
    lg = kc.metrics(kc.ADMIN["loadgen"])
    assert kc.metric_sum(lg, "krpc_client_endpoints", service="krpc.examples.EchoService") == 2
    report.add("2 node killed", s, znode_gone_s=gone_s, total_s=time.monotonic() - t0)


def test_03_node_hung(cluster, report):
    kc = cluster
    kc.loadgen_reset()
    kc.sh("docker", "pause", "krpc-node2-1")
    _, isolate_s = kc.wait_for(lambda: kc.isolated("node2"), 30, what="node2's breakers to open")
    time.sleep(WINDOW_S)
    isolated = kc.loadgen_stats()
    kc.assert_nothing_lost(isolated, "hung node")
    kc.sh("docker", "unpause", "krpc-node2-1")
    _, recover_s = kc.wait_for(lambda: kc.recovered("node2"), 30, what="node2 back through half-open probes")
    kc.loadgen_reset()
    time.sleep(4)
    after = kc.loadgen_stats()
    assert after["ok_by_endpoint"].get("node2:7000", 0) > 50, after
    kc.assert_nothing_lost(after, "after the hung node returned")
    report.add("3 node hung", isolated, time_to_isolate_s=isolate_s, time_to_recover_s=recover_s)


def test_04_error_injection(cluster, report):
    kc = cluster
    kc.loadgen_reset()
    status, body = kc.http("POST", kc.ADMIN["node1"], "/admin/fault", '{"code":"UNAVAILABLE","rate":1.0}')
    assert status == 200, body
    _, isolate_s = kc.wait_for(lambda: kc.isolated("node1"), 15, what="node1's breakers to open")
    time.sleep(WINDOW_S)
    s = kc.loadgen_stats()
    kc.assert_nothing_lost(s, "error injection")
    assert s["retries"] > 0, "retries landed elsewhere"
    lg = kc.metrics(kc.ADMIN["loadgen"])
    assert kc.metric_sum(lg, "krpc_client_breaker_transitions_total", endpoint="node1:7000") >= 1
    kc.http("DELETE", kc.ADMIN["node1"], "/admin/fault")
    _, recover_s = kc.wait_for(lambda: kc.recovered("node1"), 30, what="node1 back through half-open probes")
    kc.loadgen_reset()
    time.sleep(4)
    assert kc.loadgen_stats()["ok_by_endpoint"].get("node1:7000", 0) > 50
    report.add("4 error injection", s, time_to_isolate_s=isolate_s, time_to_recover_s=recover_s)


def test_05_two_bad_nodes(cluster, report):
    kc = cluster
    kc.loadgen_reset()
    kc.http("POST", kc.ADMIN["node1"], "/admin/fault", '{"code":"UNAVAILABLE","rate":1.0}')
    kc.http("POST", kc.ADMIN["node2"], "/admin/fault", '{"delay_ms":1500}')
    _, isolate_s = kc.wait_for(lambda: kc.isolated("node1") and kc.isolated("node2"), 30,
                               what="both bad nodes ejected from every route")
    time.sleep(WINDOW_S)
    s = kc.loadgen_stats()
    # Calls that met slow node2 before its ejection were hedged or retried per try.
    kc.assert_nothing_lost(s, "two bad nodes")
    kc.loadgen_reset()
    time.sleep(4)
    after = kc.loadgen_stats()
    kc.assert_nothing_lost(after)
    assert kc.shares(after)["node3"] >= 0.99, kc.shares(after)
    report.add("5 two bad nodes", s, time_to_isolate_s=isolate_s, node3_share=kc.shares(after)["node3"])


def test_06_latency_injection(cluster, report):
    kc = cluster
    kc.http("POST", kc.ADMIN["node3"], "/admin/fault", '{"method":"Echo","delay_ms":200}')
    time.sleep(2)
    kc.loadgen_reset()
    time.sleep(WINDOW_S)
    s = kc.loadgen_stats()
    kc.assert_nothing_lost(s, "latency injection")
    share = kc.shares(s)["node3"]
    assert share < 0.15, f"p2c sent {share:.1%} to the slow node (a third would be 33 %)"
    report.add("6 latency injection", s, node3_share=share)


def test_07_network_partition(cluster, report):
    kc = cluster
    kc.loadgen_reset()
    kc.sh("docker", "network", "disconnect", "krpc_default", "krpc-node3-1")
    _, gone_s = kc.wait_for(lambda: kc.registered() == ["node1", "node2"], kc.SESSION_TIMEOUT_S + 10,
                            what="node3's session to expire")
    kc.wait_for(lambda: kc.endpoint_state("node3") is None, 5, what="clients to drop node3")
    during = kc.loadgen_stats()
    # Calls in flight on node3 when its packets start vanishing are hedged or retried per try.
    kc.assert_nothing_lost(during, "partition")
    kc.sh("docker", "network", "connect", "--alias", "node3", "krpc_default", "krpc-node3-1")
    _, back_s = kc.wait_for(lambda: kc.registered() == kc.NODES, 40, what="node3 re-registered")
    kc.loadgen_reset()
    time.sleep(4)
    after = kc.loadgen_stats()
    assert after["ok_by_endpoint"].get("node3:7000", 0) > 50, after
    report.add("7 network partition", during, znode_gone_s=gone_s, time_to_recover_s=back_s)


def test_08_zookeeper_down(cluster, report):
    kc = cluster
    kc.loadgen_reset()
    kc.compose("stop", "-t", "5", *kc.ZKS, timeout=90)
    time.sleep(kc.SESSION_TIMEOUT_S + 4)
    down = kc.loadgen_stats()
    kc.assert_no_failures(down)
    kc.assert_nothing_lost(down)
    assert all(down["ok_by_endpoint"].get(f"{n}:7000", 0) > 0 for n in kc.NODES), down
    assert kc.metric_sum(kc.metrics(kc.ADMIN["loadgen"]), "krpc_client_endpoints",
                         service="krpc.examples.EchoService") == 3
    kc.compose("start", *kc.ZKS, timeout=120)
    _, back_s = kc.wait_for(lambda: kc.registered() == kc.NODES, 60, what="all nodes registered again")
    report.add("8 zookeeper down", down, time_to_recover_s=back_s)


def test_09_rolling_restart(cluster, report):
    kc = cluster
    kc.loadgen_reset()
    for n in kc.NODES:
        kc.sh("docker", "restart", "-t", "20", f"krpc-{n}-1", timeout=120)
        kc.wait_for(lambda n=n: kc.healthy(n), 60, what=f"{n} healthy after restart")
        kc.wait_for(lambda: kc.registered() == kc.NODES, 30, what="all registered")
        time.sleep(2)
    s = kc.loadgen_stats()
    kc.assert_no_failures(s)
    kc.assert_nothing_lost(s)
    report.add("9 rolling restart", s)


def test_10_bad_input_at_the_edge(cluster, report):
    """The cluster runs strict mutual TLS, so bad input arrives at two layers: plaintext bytes
    (refused as "TLS required"), a broken TLS handshake, and, from a peer with a valid client
    certificate, malformed krpc frames inside TLS. Each is counted and closes only its own
    connection; the loadgen's traffic through node1 loses nothing."""
    kc = cluster
    port = 7001  # node1's RPC port, published on 127.0.0.1
    counters = {
        "plaintext_refused": ("krpc_server_tls_handshakes_total", {"result": "plaintext_refused"}),
        "bad_magic": ("krpc_server_frame_errors_total", {"reason": "bad_magic"}),
        "body_too_large": ("krpc_server_frame_errors_total", {"reason": "body_too_large"}),
        "idle_closed": ("krpc_server_idle_closed_total", {}),
    }

    def handshakes_failed(values):  # every result but ok and plaintext_refused
        return sum(v for s, v in values.items() if s.startswith("krpc_server_tls_handshakes_total{")
                   and 'result="ok"' not in s and 'result="plaintext_refused"' not in s)

    def deltas(before):
        now = kc.metrics(kc.ADMIN["node1"])
        out = {k: kc.metric_sum(now, m, **l) - kc.metric_sum(before, m, **l) for k, (m, l) in counters.items()}
        out["handshake_failed"] = handshakes_failed(now) - handshakes_failed(before)
        return out

    before = kc.metrics(kc.ADMIN["node1"])
    kc.loadgen_reset()
    # Plaintext garbage, and a TLS record header followed by garbage (a broken handshake).
    for junk in (b"GET / HTTP/1.1\r\n\r\n\x00\xff garbage", b"\x16\x03\x01\x00\x05garbage-not-a-hello"):
        with kc.tcp(port) as s:
            s.sendall(junk)
            kc.read_until_closed(s)
    # Inside mutual TLS (the cli certificate): garbage, and a REQUEST claiming a 256 MiB body.
    for frame in (b"\x00\xff garbage garbage", b"KRPC\x01\x01\x00\x00\x10\x00\x00\x00\x00\x00\x00\x00"):
        with kc.mtls(port, "node1") as s:
            s.sendall(frame)
            kc.read_until_closed(s)
    # A half-written frame inside TLS, left open: the idle kick closes it.
    with kc.mtls(port, "node1") as s:
        s.sendall(b"KRPC\x01\x03\x00")
        kc.read_until_closed(s, timeout=30)
    d, _ = kc.wait_for(lambda: (lambda d: d if all(d[k] >= 1 for k in d) else None)(deltas(before)), 30,
                       what="every kind of bad input counted on node1")
    s, _ = kc.wait_for(lambda: (lambda s: s if s["ok_by_endpoint"].get("node1:7000", 0) > 100 else None)(
        kc.loadgen_stats()), 30, what="node1 kept serving the loadgen")
    kc.assert_no_failures(s)
    kc.assert_nothing_lost(s)
    report.add("10 bad input", s, **{k: int(v) for k, v in d.items()})


def test_11_node_frozen_with_sigstop(cluster, report):
    kc = cluster
    kc.loadgen_reset()
    pid = kc.host_pid("node2")
    kc.sh("kill", "-STOP", str(pid))
    try:
        _, isolate_s = kc.wait_for(lambda: kc.isolated("node2") or kc.endpoint_state("node2") is None, 30,
                                   what="the frozen node2 ejected")
        time.sleep(WINDOW_S)
        frozen = kc.loadgen_stats()
        kc.assert_nothing_lost(frozen, "frozen node")
        lg = kc.metrics(kc.ADMIN["loadgen"])
        assert kc.metric_sum(lg, "krpc_client_stalls_total") + kc.metric_sum(lg, "krpc_client_hedges_total") > 0
    finally:
        kc.sh("kill", "-CONT", str(pid))
    kc.wait_for(lambda: kc.registered() == kc.NODES, 60, what="node2 registered again")
    _, recover_s = kc.wait_for(lambda: kc.recovered("node2"), 30, what="node2 back in rotation")
    report.add("11 node frozen (SIGSTOP)", frozen, time_to_isolate_s=isolate_s, time_to_recover_s=recover_s)


def test_12_zookeeper_leader_killed(cluster, report):
    kc = cluster
    leader, _ = kc.wait_for(kc.zk_leader, 30, what="a ZooKeeper leader")
    expirations = {n: kc.metric_sum(kc.metrics(kc.ADMIN[n]), "krpc_registry_session_expirations_total")
                   for n in kc.NODES}
    kc.loadgen_reset()
    kc.sh("docker", "kill", "-s", "KILL", f"krpc-{leader}-1")
    _, elect_s = kc.wait_for(lambda: (l := kc.zk_leader()) is not None and l != leader, 30,
                             what="a new leader elected")
    time.sleep(WINDOW_S)
    s = kc.loadgen_stats()
    kc.assert_nothing_lost(s, "ZooKeeper leader killed")
    kc.assert_no_failures(s)
    # The killed server's name no longer resolves in the compose network: a fresh `krpc list`
    # must still reach the quorum at once, and no node may have lost its session.
    assert kc.registered() == kc.NODES
    for n in kc.NODES:
        m = kc.metrics(kc.ADMIN[n])
        assert kc.metric_sum(m, "krpc_registry_session_connected") == 1, n
        assert kc.metric_sum(m, "krpc_registry_session_expirations_total") == expirations[n], n
    kc.compose("start", leader, timeout=120)
    kc.wait_for(lambda: kc.healthy(leader), 90, what=f"{leader} back in the quorum")
    report.add("12 ZooKeeper leader killed", s, killed=leader, election_s=elect_s)


def test_13_random_errors_and_jitter(cluster, report):
    kc = cluster
    unavailable = lambda: kc.metric_sum(kc.metrics(kc.ADMIN["node1"]), "krpc_server_requests_total", code="UNAVAILABLE")
    before = unavailable()
    kc.loadgen_reset()
    status, body = kc.http("POST", kc.ADMIN["node1"], "/admin/fault",
                           '{"code":"UNAVAILABLE","rate":0.1,"jitter_ms":300}')
    assert status == 200, body
    time.sleep(WINDOW_S + 2)
    s = kc.loadgen_stats()
    kc.assert_nothing_lost(s, "10 % errors and 300 ms jitter")
    # Failed attempts were answered by a retry or by a hedge already in flight (which then wins).
    assert s["attempts"] > s["calls"] and s["retries"] + s["hedges"] > 0, s
    assert unavailable() > before, "node1 answered no injected error"
    report.add("13 10% errors + 300 ms jitter", s)


def test_14_slowly_degrading_node(cluster, report):
    kc = cluster
    kc.loadgen_reset()
    # node3's latency rises by 40 ms every 2 s, to 600 ms over 30 s.
    for step in range(1, 16):
        status, body = kc.http("POST", kc.ADMIN["node3"], "/admin/fault", f'{{"delay_ms":{40 * step}}}')
        assert status == 200, body
        time.sleep(2)
    s = kc.loadgen_stats()
    kc.assert_nothing_lost(s, "slowly degrading node")
    share = kc.shares(s)["node3"]
    assert share < 0.2, f"node3 kept {share:.1%} of the answers while degrading"
    report.add("14 slowly degrading node", s, node3_share=share)


def test_15_node_overloaded(cluster, report):
    """Issue 33: node1 runs the adaptive limit (max_inflight=auto) on half a core while a second
    client sends node1 alone 600 calls/s of 2 ms of CPU each (2.4x what half a core serves).
    node1 refuses the excess at once (RESOURCE_EXHAUSTED, not executed, with a pushback) and
    keeps serving what it admits; the loadgen's calls move to node2 and node3, and none of its
    idempotent calls fails."""
    kc = cluster
    hammer = None
    try:
        kc.compose("up", "-d", "--no-deps", "--wait", "--wait-timeout", "120", "node1", timeout=300,
                   env={"KRPC_NODE_MAX_INFLIGHT": "auto", "KRPC_NODE_HANDLER_THREADS": "4"})
        kc.wait_for(lambda: kc.registered() == kc.NODES, 60, what="node1 registered with max_inflight=auto")
        kc.wait_for(lambda: kc.recovered("node1"), 60, what="node1's breakers closed")
        assert kc.metric_sum(kc.metrics(kc.ADMIN["node1"]), "krpc_server_adaptive_limit") > 0, "node1 runs auto"
        kc.sh("docker", "update", "--cpus", "0.5", "krpc-node1-1")
        refused = lambda: kc.metric_sum(kc.metrics(kc.ADMIN["node1"]), "krpc_server_overload_refused_total")
        pushbacks = lambda: kc.metric_sum(kc.metrics(kc.ADMIN["loadgen"]), "krpc_client_pushbacks_total")
        before_refused, before_pushbacks = refused(), pushbacks()
        hammer = kc.loadgen_bench("node1:7000", '{"payload":"aGk=","cpu_us":2000}', "--rate", "600",
                                  "--concurrency", "3000", "--duration", str(WINDOW_S + 6), "--rpc_timeout_ms", "1000",
                                  "--max_attempts", "1", "--hedging_enabled=false")
        # The hammer's first refusals: node1 is past its limit.
        kc.wait_for(lambda: refused() > before_refused, 30, what="node1 refusing the excess")
        time.sleep(2)  # the loadgen's picks have met node1's refusals and latency
        kc.loadgen_reset()
        time.sleep(WINDOW_S)
        s = kc.loadgen_stats()
        out, err = hammer.communicate(timeout=120)
        assert hammer.returncode == 0, err
        h = json.loads(out)
        kc.assert_nothing_lost(s, "node1 overloaded")
        share = kc.shares(s)["node1"]
        assert share < 0.2, f"node1 kept {share:.1%} of the loadgen's answers while overloaded (a third when not)"
        assert h["refused"] > 0, f"node1 refused none of the hammer's calls: {h}"
        assert h["ok"] > 0, f"node1 served none of what it admitted: {h}"
        lg_pushbacks = pushbacks() - before_pushbacks
        report.add("15 node overloaded (auto limit)", s, node1_share=share, node1_refused=refused() - before_refused,
                   loadgen_pushbacks=lg_pushbacks, hammer_goodput=h["goodput"],
                   hammer_refused_share=h["refused"] / max(h["count"], 1))
    finally:
        if hammer and hammer.poll() is None:
            hammer.kill()
            hammer.communicate(timeout=30)
        # node1 as the compose file has it: the default limit, no CPU quota.
        kc.compose("up", "-d", "--no-deps", "--wait", "--wait-timeout", "120", "node1", timeout=300, check=False)
