"""The container check (containers issue): the cluster is up, registered, scraped and serving."""
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
    lg = kc.metrics(kc.ADMIN["loadgen"])
    assert kc.metric_sum(lg, "krpc_client_requests_total", code="OK") > 0
    assert kc.metric_sum(lg, "krpc_client_endpoints", service="krpc.examples.EchoService") == 3
    report.add("cluster check", {"calls": int(sum(after.values()) - sum(before.values()))})
