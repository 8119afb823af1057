"""status.stream and status.collect over an in-memory cluster: batching, and one read per kind."""

import pytest

from kubectl_sidecar import render, status
from kubectl_sidecar.meshes.linkerd import OVERRIDE_ANNOTATIONS as LINKERD_KEYS
from kubectl_sidecar.plan import plan_restart, plan_switch
from kubectl_sidecar.refs import WorkloadRef
from kubectl_sidecar.render import action_text
from tests.unit import pods
from tests.unit.fake_cluster import FakeCluster
from tests.unit.objects import asm_mesh_config, deployment, replicaset


def big_mesh(pod_count):
    """pod_count native pods across namespaces ns-0..ns-9 under an ASM config asking for
    traditional; each namespace has one Deployment, the one in ns-9 paused."""
    objects = {
        "ASMMeshConfig": [asm_mesh_config(False)],
        "Pod": [],
        "ReplicaSet": [],
        "Deployment": [],
    }
    for n in range(10):
        namespace = f"ns-{n}"
        objects["ReplicaSet"].append(replicaset("web-5f", "web", namespace))
        objects["Deployment"].append(deployment("web", namespace, paused=n == 9))
    for i in range(pod_count):
        namespace = f"ns-{i * 10 // pod_count}"
        objects["Pod"].append(
            pods.istio(
                "native",
                name=f"web-5f-{i:05d}",
                namespace=namespace,
                owner=("ReplicaSet", "web-5f"),
            )
        )
    return objects


class CountingCluster(FakeCluster):
    """Counts how many pods the code has taken from the pod list so far."""

    pods_taken = 0

    def list_items(self, resource, *args, **kwargs):
        for item in super().list_items(resource, *args, **kwargs):
            if resource.kind == "Pod":
                self.pods_taken += 1
            yield item


def test_stream_hands_over_each_batch_before_reading_further_pods():
    cluster = CountingCluster(big_mesh(1200))
    scope = status.Scope()
    batches = status.stream(status.Assessor(cluster, scope), batch_size=500)
    first = next(batches)
    assert len(first) == 500 and cluster.pods_taken == 500
    assert action_text(first[0].remedy) == "restart Deployment/web"
    assert [len(batch) for batch in batches] == [500, 200]


def test_the_collector_stays_off_until_the_last_of_overlapping_listings_ends():
    # A fleet lists its contexts in threads: one context's listing ending first must not turn
    # the process's collector back on under the others.
    import gc

    assert gc.isenabled()
    first = status.list_pod_rows(FakeCluster(big_mesh(3)), status.Scope())
    second = status.list_pod_rows(FakeCluster(big_mesh(3)), status.Scope())
    next(first)
    next(second)
    assert not gc.isenabled()
    assert len(list(first)) == 2
    assert not gc.isenabled()
    assert len(list(second)) == 2
    assert gc.isenabled()


def test_owners_workloads_and_mesh_config_are_read_once_whatever_the_batches():
    cluster = FakeCluster(big_mesh(1200))
    scope = status.Scope()
    batches = status.stream(status.Assessor(cluster, scope), batch_size=100)
    rows = [row for batch in batches for row in batch]
    reads = [read[:2] for read in cluster.reads]
    assert sorted(reads) == sorted(
        [("list", "Pod"), ("list", "ReplicaSet"), ("list", "Deployment"), ("get", "ASMMeshConfig")]
    )
    # Facts read for the first batch still decide the last one: ns-9's Deployment is paused.
    assert rows[-1].namespace == "ns-9" and action_text(rows[-1].remedy).startswith(
        "paused: resume"
    )


def test_a_tally_of_streamed_batches_equals_the_collected_report():
    cluster = FakeCluster(big_mesh(1200))
    scope = status.Scope()
    tally = status.Tally()
    for batch in status.stream(status.Assessor(cluster, scope), batch_size=500):
        tally.add(batch)
    report = status.collect(FakeCluster(big_mesh(1200)), scope)
    assert (
        tally.summary()
        == report.tally().summary()
        == {
            "pods": 1200,
            "modes": {
                "native": 1200,
                "traditional": 0,
                "invalid": 0,
                "gateway": 0,
                "ambient": 0,
                "none": 0,
            },
            "needsRestart": 1200,
            "workloadsToRestart": 9,  # ns-9's web is paused: it must be resumed, not restarted
            "ambientNotRedirected": 0,
        }
    )
    assert tally.per_namespace["ns-0"]["restart"] == 120


def test_warnings_are_passed_on_as_they_arise():
    cluster = FakeCluster(big_mesh(10), refuse={"ReplicaSet"})
    scope = status.Scope()
    warnings = []
    rows = status.collect(cluster, scope).rows
    list(status.stream(status.Assessor(cluster, scope, warn=warnings.append)))
    assert len(warnings) == 1 and warnings[0].startswith("can't list replicasets")
    assert rows[0].workload == WorkloadRef("ReplicaSet", "ns-0", "web-5f")


# --- Linkerd: a pod's mode annotation may be its namespace's copy ----------------------------

STABLE, BETA, ALPHA = LINKERD_KEYS


def linkerd_cluster(namespace_native="true"):
    """linkerd-config traditional; namespace `l5d` annotated `namespace_native` now. Its pods
    were injected while it said "false", so each carries that copy (Linkerd copies the
    namespace's key onto the pods it injects) unless its template set its own:
    - web (Deployment, through a ReplicaSet): no annotation of its own;
    - pinned (Deployment): its template pins traditional;
    - legacy (Deployment): its template sets the beta key, which the namespace's stable key,
      copied onto new pods, comes before;
    - db (StatefulSet, owns its pods): no annotation of its own;
    - debug: a bare pod, whose annotation is its own."""
    copy = {STABLE: "false"}

    def template(name, kind_annotations=None):
        obj = deployment(name, "l5d")
        obj["spec"]["template"]["metadata"]["annotations"] = dict(kind_annotations or {})
        return obj

    statefulset = template("db")
    statefulset["spec"]["updateStrategy"] = {"type": "RollingUpdate"}
    return {
        "ConfigMap": [
            {
                "metadata": {"name": "linkerd-config", "namespace": "linkerd"},
                "data": {"values": "linkerdVersion: edge-26.5.2\nproxy:\n  nativeSidecar: false\n"},
            }
        ],
        "Namespace": [
            {
                "metadata": {
                    "name": "l5d",
                    "annotations": {"linkerd.io/inject": "enabled", STABLE: namespace_native},
                }
            }
        ],
        "ReplicaSet": [
            replicaset(f"{name}-5f", name, "l5d") for name in ("web", "pinned", "legacy")
        ],
        "Deployment": [
            template("web"),
            template("pinned", {STABLE: "false"}),
            template("legacy", {BETA: "false"}),
        ],
        "StatefulSet": [statefulset],
        "Pod": [
            pods.linkerd(
                "traditional",
                name="db-0",
                namespace="l5d",
                owner=("StatefulSet", "db"),
                annotations=copy,
            ),
            pods.linkerd("traditional", name="debug", namespace="l5d", annotations=copy),
            pods.linkerd(
                "traditional",
                name="legacy-5f-a",
                namespace="l5d",
                owner=("ReplicaSet", "legacy-5f"),
                annotations={**copy, BETA: "false"},
            ),
            pods.linkerd(
                "traditional",
                name="pinned-5f-a",
                namespace="l5d",
                owner=("ReplicaSet", "pinned-5f"),
                annotations=copy,
            ),
            pods.linkerd(
                "traditional",
                name="web-5f-a",
                namespace="l5d",
                owner=("ReplicaSet", "web-5f"),
                annotations=copy,
            ),
        ],
    }


def by_name(rows):
    return {row.name: row for row in rows}


def test_a_linkerd_pods_copy_of_its_namespaces_annotation_is_not_its_own():
    rows = by_name(status.collect(FakeCluster(linkerd_cluster()), status.Scope("l5d")).rows)
    seen = {
        name: (row.desired, row.desired_reason, action_text(row.remedy))
        for name, row in rows.items()
    }
    assert seen == {
        # The namespace now says native: what was copied from it before says nothing.
        "web-5f-a": ("native", f"namespace annotation {STABLE}", "restart Deployment/web"),
        "db-0": ("native", f"namespace annotation {STABLE}", "restart StatefulSet/db"),
        "legacy-5f-a": ("native", f"namespace annotation {STABLE}", "restart Deployment/legacy"),
        # The template's stable key is the workload's own, and a bare pod's is its own.
        "pinned-5f-a": ("traditional", f"pod annotation {STABLE}", "ok"),
        "debug": ("traditional", f"pod annotation {STABLE}", "ok"),
    }
    assert (rows["web-5f-a"].override, rows["web-5f-a"].override_annotation) == (None, None)
    assert (rows["pinned-5f-a"].override, rows["legacy-5f-a"].override) == (False, False)
    assert rows["legacy-5f-a"].override_annotation == BETA


def test_linkerd_templates_are_read_once_per_kind_with_the_workload_facts():
    objects = linkerd_cluster()
    for i in range(300):
        objects["Pod"].append(
            pods.linkerd(
                "traditional",
                name=f"web-5f-{i:03d}",
                namespace="l5d",
                owner=("ReplicaSet", "web-5f"),
                annotations={STABLE: "false"},
            )
        )
    cluster = FakeCluster(objects)
    batches = status.stream(status.Assessor(cluster, status.Scope("l5d")), batch_size=50)
    assert sum(len(batch) for batch in batches) == 305
    assert sorted(read[:2] for read in cluster.reads) == sorted(
        [
            ("list", "Pod"),
            ("list", "ReplicaSet"),
            ("list", "Deployment"),
            ("list", "StatefulSet"),
            ("get", "ConfigMap"),
            ("list", "Namespace"),
        ]
    )


def test_linkerd_pods_without_a_mode_annotation_need_no_template():
    objects = linkerd_cluster()
    objects["Pod"] = [
        pods.linkerd("native", name="web-5f-a", namespace="l5d", owner=("ReplicaSet", "web-5f"))
    ]
    cluster = FakeCluster(objects)
    [row] = status.collect(cluster, status.Scope("l5d")).rows
    assert (row.desired, action_text(row.remedy)) == ("native", "ok")
    assert ("list", "Deployment") not in [read[:2] for read in cluster.reads]


def test_without_the_templates_a_linkerd_pod_keeps_its_own_annotation():
    warnings = []
    cluster = FakeCluster(linkerd_cluster(), refuse={"Deployment"})
    assessor = status.Assessor(cluster, status.Scope("l5d"), warn=warnings.append)
    rows = by_name(row for batch in status.stream(assessor) for row in batch)
    assert rows["web-5f-a"].desired == "traditional"  # the best there is to go on
    assert rows["db-0"].desired == "native"  # its StatefulSet could be read
    assert warnings[0].startswith("can't list deployments")


def test_a_linkerd_switch_restarts_pods_whose_only_annotation_is_the_namespaces_copy():
    objects = linkerd_cluster(namespace_native="false")
    report = status.collect(FakeCluster(objects), status.Scope())
    facts = report.assessor.workload_facts(report.rows)
    plan = plan_switch(report.rows, report.mesh, "native", facts)
    assert [(c.name, c.old, c.new) for c in plan.config_changes] == [("l5d", "false", "true")]
    # legacy's beta key loses to the stable key the switch writes on its namespace.
    assert [r.ref.short for r in plan.restarts] == [
        "Deployment/legacy",
        "Deployment/web",
        "StatefulSet/db",
    ]
    # pinned's template pins it; debug, a bare pod, pins itself.
    assert plan.already == 2 and plan.manual == []


# --- pods that lost the mesh -----------------------------------------------------------------


def lost_mesh_cluster():
    """Istio with its chart's webhooks: shop is labelled for injection and has one pod with a
    proxy and two without (one opted out); plain is not labelled."""
    from tests.unit.test_injection import istio_configuration
    from tests.unit.test_meshes_istio import istiod

    def namespace(name, labels):
        return {
            "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name, **labels}}
        }

    return {
        "Deployment": [istiod("true"), deployment("cart"), deployment("web"), deployment("opt")],
        "ReplicaSet": [
            replicaset("cart-5f", "cart"),
            replicaset("web-5f", "web"),
            replicaset("opt-5f", "opt"),
            replicaset("app-5f", "app", "plain"),
        ],
        "MutatingWebhookConfiguration": [istio_configuration()],
        "Namespace": [namespace("shop", {"istio-injection": "enabled"}), namespace("plain", {})],
        "Pod": [
            pods.istio("native", name="cart-5f-a", owner=("ReplicaSet", "cart-5f")),
            pods.pod(name="web-5f-a", owner=("ReplicaSet", "web-5f")),
            pods.pod(name="web-5f-b", owner=("ReplicaSet", "web-5f")),
            pods.pod(
                name="opt-5f-a",
                owner=("ReplicaSet", "opt-5f"),
                annotations={"sidecar.istio.io/inject": "false"},
            ),
            pods.pod(name="app-5f-a", namespace="plain", owner=("ReplicaSet", "app-5f")),
        ],
    }


def test_pods_the_injectors_webhook_selects_but_have_no_proxy_need_a_restart():
    cluster = FakeCluster(lost_mesh_cluster())
    report = status.collect(cluster, status.Scope())
    rows = by_name(report.rows)
    for name in ("web-5f-a", "web-5f-b"):
        row = rows[name]
        assert row.mode == "none" and row.needs_restart and row.desired == "native"
        assert row.lost == "no proxy: webhook istio-sidecar-injector selects this pod"
        assert action_text(row.remedy) == "restart Deployment/web"
    for name in ("opt-5f-a", "app-5f-a", "cart-5f-a"):
        assert not rows[name].lost and not rows[name].needs_restart
    summary = report.tally().summary()
    assert (summary["needsRestart"], summary["workloadsToRestart"]) == (2, 1)
    plan = plan_restart(report.rows, {})
    assert [r.ref.short for r in plan.restarts] == ["Deployment/web"] and plan.lost == 2
    text = render.plan_text([("c", plan, status.Scope())])
    assert "(2 pod(s) among them have no proxy, though the mesh's injector webhook" in text
    # one list of each per run, never a read per pod or per namespace
    reads = [read[:2] for read in cluster.reads]
    assert reads.count(("list", "MutatingWebhookConfiguration")) == 1
    assert reads.count(("list", "Namespace")) == 1


def test_a_switch_restores_lost_pods_into_the_target_mode():
    report = status.collect(FakeCluster(lost_mesh_cluster()), status.Scope())
    plan = plan_switch(report.rows, report.mesh, "traditional", {})
    assert [r.ref.short for r in plan.restarts] == ["Deployment/cart", "Deployment/web"]


def test_one_namespace_is_read_with_a_get_not_a_list():
    cluster = FakeCluster(lost_mesh_cluster())
    report = status.collect(cluster, status.Scope("shop"))
    assert by_name(report.rows)["web-5f-a"].lost
    assert ("get", "Namespace", None, "shop") in cluster.reads
    assert not any(read[:2] == ("list", "Namespace") for read in cluster.reads)


@pytest.mark.parametrize("refused", ["MutatingWebhookConfiguration", "Namespace"])
def test_without_the_right_to_read_the_webhooks_nothing_is_flagged_and_it_says_so_once(refused):
    cluster = FakeCluster(lost_mesh_cluster(), refuse={refused})
    assessor = status.Assessor(cluster, status.Scope())
    rows = [row for batch in status.stream(assessor, batch_size=1) for row in batch]
    assert not any(row.lost for row in rows)
    said = [w for w in assessor.warnings if "lost their mesh proxy are not flagged" in w]
    assert len(said) == 1, assessor.warnings


def injector_config_map(config, name="istio-sidecar-injector"):
    return {
        "metadata": {"name": name, "namespace": "istio-system"},
        "data": {"config": config},
    }


def test_with_injection_disabled_by_policy_only_the_pods_that_ask_are_lost():
    objects = lost_mesh_cluster()
    objects["ConfigMap"] = [injector_config_map("policy: disabled\n")]
    asking = pods.pod(
        name="web-5f-c",
        owner=("ReplicaSet", "web-5f"),
        annotations={"sidecar.istio.io/inject": "true"},
    )
    objects["Pod"].append(asking)
    cluster = FakeCluster(objects)
    assessor = status.Assessor(cluster, status.Scope())
    rows = by_name(row for batch in status.stream(assessor, batch_size=1) for row in batch)
    assert not rows["web-5f-a"].lost and not rows["web-5f-b"].lost
    assert rows["web-5f-c"].lost and rows["web-5f-c"].needs_restart
    # one read of the revision's ConfigMap, whatever the number of pods and batches
    reads = [read for read in cluster.reads if read[1] == "ConfigMap"]
    assert reads == [("get", "ConfigMap", "istio-system", "istio-sidecar-injector")]


def test_the_injector_config_map_is_not_read_when_every_pod_has_its_proxy():
    objects = lost_mesh_cluster()
    objects["Pod"] = objects["Pod"][:1]
    cluster = FakeCluster(objects)
    status.collect(cluster, status.Scope())
    assert not any(read[1] == "ConfigMap" for read in cluster.reads)


def test_without_the_right_to_read_the_injector_config_nothing_is_flagged_and_it_says_so_once():
    cluster = FakeCluster(lost_mesh_cluster(), refuse={"ConfigMap"})
    assessor = status.Assessor(cluster, status.Scope())
    rows = [row for batch in status.stream(assessor, batch_size=1) for row in batch]
    assert not any(row.lost for row in rows)
    said = [w for w in assessor.warnings if "configmap istio-system/istio-sidecar-injector" in w]
    assert len(said) == 1 and said[0].startswith("can't read"), assessor.warnings


def test_a_pod_in_a_namespace_labelled_for_ambient_but_not_redirected_is_noted():
    objects = lost_mesh_cluster()
    objects["Namespace"][1]["metadata"]["labels"]["istio.io/dataplane-mode"] = "ambient"
    rows = by_name(status.collect(FakeCluster(objects), status.Scope()).rows)
    assert rows["app-5f-a"].ambient == "not redirected" and not rows["app-5f-a"].needs_restart
    assert rows["web-5f-a"].ambient is None


def test_a_lost_pod_shows_its_desired_mode_and_why_it_needs_a_restart():
    report = status.collect(FakeCluster(lost_mesh_cluster()), status.Scope("shop"))
    lines = {
        line.split()[0]: line.split()
        for line in render.pod_table(report.scope, report.rows).splitlines()
    }
    assert lines["web-5f-a"] == [
        "web-5f-a",
        "Deployment/web",
        "<none>",
        "none",
        "native",
        "restart",
        "Deployment/web",
        "(no",
        "proxy)",
    ]
    assert lines["opt-5f-a"][3:] == ["none", "-", "-"]
    item = render.item(by_name(report.rows)["web-5f-a"])
    assert item["problems"] == ["no proxy: webhook istio-sidecar-injector selects this pod"]
    assert item["needsRestart"] is True and item["desiredMode"] == "native"
    assert item["desiredModeSource"] == "istio-system/istiod ENABLE_NATIVE_SIDECARS=true"


def consul_lost_cluster(script):
    """consul-k8s's injector (its flags in `script`) and its chart's webhook; shop has a pod
    that opts in, one that doesn't, and one of Consul's own (app=consul), none with a proxy."""
    from tests.unit.test_injection import consul_configuration, consul_mesh

    injector = consul_mesh(script).payload.deployment
    injector["metadata"]["labels"] = {"app": "consul", "component": "connect-injector"}
    asks = {"consul.hashicorp.com/connect-inject": "true"}
    return {
        "Deployment": [injector, deployment("web"), deployment("api")],
        "ReplicaSet": [replicaset("web-5f", "web"), replicaset("api-5f", "api")],
        "MutatingWebhookConfiguration": [consul_configuration()],
        "Namespace": [{"metadata": {"name": "shop", "labels": {}}}],
        "Pod": [
            pods.pod(name="web-5f-a", owner=("ReplicaSet", "web-5f"), annotations=asks),
            pods.pod(name="api-5f-a", owner=("ReplicaSet", "api-5f")),
            pods.pod(name="server-0", labels={"app": "consul"}, annotations=asks),
        ],
    }


def test_consul_pods_that_opted_in_are_lost_by_the_injectors_own_flags():
    from tests.unit.test_injection import CHART_SCRIPT

    assessor = status.Assessor(FakeCluster(consul_lost_cluster(CHART_SCRIPT)), status.Scope())
    rows = by_name(row for batch in status.stream(assessor, batch_size=1) for row in batch)
    assert rows["web-5f-a"].lost == "no proxy: webhook consul-connect-injector selects this pod"
    assert rows["web-5f-a"].needs_restart
    assert not rows["api-5f-a"].lost and not rows["server-0"].lost
    assert not any("not flagged" in w for w in assessor.warnings), assessor.warnings


def test_consul_flags_that_cant_be_read_flag_nothing_and_say_so_once():
    script = 'exec consul-k8s-control-plane inject-connect -allow-k8s-namespace="$NS"\n'
    assessor = status.Assessor(FakeCluster(consul_lost_cluster(script)), status.Scope())
    rows = [row for batch in status.stream(assessor, batch_size=1) for row in batch]
    assert not any(row.lost for row in rows)
    said = [w for w in assessor.warnings if "not flagged" in w]
    assert said == [
        "can't read the flags of the injector that webhook consul-connect-injector calls; "
        "pods that lost their proxy from it are not flagged"
    ], assessor.warnings
