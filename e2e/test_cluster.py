"""The container check (containers issue): the cluster is up, registered, scraped and serving."""
import subprocess
import time


def test_cluster_is_registered_scraped_and_serving(cluster, report):
    kc = cluster
    # Every node registered in ZooKeeper under its own advertised name.
    assert kc.registered() == kc.NODES
    assert kc.registered("krpc.examples.UserService") == kc.NODES
    for n in kc.NODES:
        assert kc.http("GET", kc.ADMIN[n], "/readyz")[0] == 200
    # Prometheus reports every target up.
    def all_up():
        result = kc.prometheus_query('up{job=~"krpc-.*"}')
        return len(result) == 4 and all(r["value"][1] == "1" for r in result) and result
    up, _ = kc.wait_for(all_up, 60, what="4 Prometheus targets up")
    assert sorted(r["metric"]["instance"] for r in up) == ["loadgen:9100", "node1:9100", "node2:9100", "node3:9100"]
    # The loadgen's success counter rises on all three nodes.
    before = {n: kc.metric_sum(kc.metrics(kc.ADMIN[n]), "krpc_server_requests_total", code="OK") for n in kc.NODES}
    time.sleep(5)
    after = {n: kc.metric_sum(kc.metrics(kc.ADMIN[n]), "krpc_server_requests_total", code="OK") for n in kc.NODES}
    for n in kc.NODES:
        assert after[n] - before[n] > 50, f"{n} served {after[n] - before[n]} calls in 5 s"
    # ... over mutual TLS (the cluster runs tls_mode=strict, tls_client_auth=require).
    for n in kc.NODES:
        assert kc.metric_sum(kc.metrics(kc.ADMIN[n]), "krpc_server_tls_handshakes_total", result="ok") > 0
    lg = kc.metrics(kc.ADMIN["loadgen"])
    assert kc.metric_sum(lg, "krpc_client_requests_total", code="OK") > 0
    assert kc.metric_sum(lg, "krpc_client_endpoints", service="krpc.examples.EchoService") == 3
    # The cluster-wide recording rules (observability/recording_rules.yml) are evaluated.
    def cluster_rate():
        r = kc.prometheus_query("cluster:krpc_server_requests:rate1m")
        return r and float(r[0]["value"][1]) > 50 and r
    kc.wait_for(cluster_rate, 90, what="cluster:krpc_server_requests:rate1m above 50 calls/s")
    p99 = kc.prometheus_query('cluster_method:krpc_server_request_duration_seconds:p99_1m{method="Echo"}')
    assert p99 and 0 < float(p99[0]["value"][1]) < 10, p99
    # Every node and the loadgen serve the web console.
    for port in kc.ADMIN.values():
        status, body = kc.http("GET", port, "/")
        assert status == 200 and "/console/console.js" in body, (port, status)
    report.add("cluster check", {"calls": int(sum(after.values()) - sum(before.values()))})


def test_user_service_built_on_the_sdk_image_joins_the_cluster(cluster):
    """Issue 13: the documented Dockerfile pattern (krpc/sdk -> krpc/node) and compose override."""
    kc = cluster
    kc.sh("docker", "build", "-q", "--target", "sdk", "-t", "krpc/sdk:dev", ".", timeout=1800)
    files = ["-f", "docker-compose.yml", "-f", "examples/standalone/compose.yaml"]
    try:
        kc.compose(*files, "up", "-d", "--build", "--wait", "--wait-timeout", "120", "greeter", timeout=1800)
        kc.wait_for(lambda: kc.registered("greet.Greeter") == ["greeter"], 30, what="greet.Greeter registered")
        out = kc.compose("exec", "-T", "greeter", "greeter-client", f"zk://{kc.ZK_HOSTS}/krpc", "cluster", timeout=60)
        assert out.count("hello, cluster (from greeter") == 5, out
        m = kc.metrics(9110)
        assert kc.metric_sum(m, "krpc_server_requests_total", service="greet.Greeter", code="OK") == 5
    finally:
        kc.compose(*files, "stop", "greeter", check=False, timeout=120)
    kc.wait_for(lambda: kc.registered("greet.Greeter") == [], 30, what="greet.Greeter deregistered on stop")


def test_mtls_strict_refuses_a_container_without_a_client_certificate(cluster):
    """Issue 15: the cluster's RPC ports speak mutual TLS only. A container on the cluster's
    network that trusts the CA but has no certificate of its own cannot call a node; nor can a
    plaintext one; the same call with a certificate from the CA succeeds."""
    kc = cluster
    certs = f"{kc.ROOT}/.cluster/certs"
    call = ["call", "--target", "node1:7000", "/krpc.examples.EchoService/Echo", '{"payload":"aGk="}',
            "--rpc_timeout_ms=10000"]

    def run(mounts, *flags):
        args = ["docker", "run", "--rm", "--network", "krpc_default", "--entrypoint", "krpc"]
        for m in mounts:
            args += ["-v", f"{certs}/{m}:/certs/{m}:ro"]
        r = subprocess.run(args + ["krpc/node:dev", *call, *flags], capture_output=True, text=True, timeout=120)
        return r.returncode, r.stdout + r.stderr

    before = kc.metric_sum(kc.metrics(kc.ADMIN["node1"]), "krpc_server_tls_handshakes_total", result="no_client_cert")
    rc, out = run(["ca.crt"], "--tls", "--tls_ca_file=/certs/ca.crt")
    assert rc != 0 and "certificate required" in out, out
    rc, out = run([])
    assert rc != 0 and "TLS required" in out, out
    rc, out = run(["ca.crt", "cli.crt", "cli.key"], "--tls", "--tls_ca_file=/certs/ca.crt",
                  "--tls_cert_file=/certs/cli.crt", "--tls_key_file=/certs/cli.key")
    assert rc == 0 and "aGk=" in out, out
    after = kc.metric_sum(kc.metrics(kc.ADMIN["node1"]), "krpc_server_tls_handshakes_total", result="no_client_cert")
    assert after > before
