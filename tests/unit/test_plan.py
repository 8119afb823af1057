import pytest

from kubectl_sidecar.classify import classify_pod
from kubectl_sidecar.meshes.asm import asm_config
from kubectl_sidecar.meshes.consul import consul_config
from kubectl_sidecar.meshes.istio import istio_config
from kubectl_sidecar.meshes.linkerd import OVERRIDE_ANNOTATIONS as LINKERD_KEYS
from kubectl_sidecar.meshes.linkerd import linkerd_config
from kubectl_sidecar.plan import plan_override, plan_restart, plan_switch
from kubectl_sidecar.refs import WorkloadRef
from kubectl_sidecar.workloads import WorkloadFacts
from tests.unit import pods
from tests.unit.test_meshes_consul import FLAG, argv_injector, helm_injector, helm_script
from tests.unit.test_meshes_istio import istiod


def rows(*specs):
    out = []
    for pod, workload in specs:
        row = classify_pod(pod)
        # (kind, name): the pod's own namespace completes it
        row.workload = WorkloadRef(workload[0], row.namespace, workload[1]) if workload else None
        out.append(row)
    return out


ASM_NATIVE = asm_config({"spec": {"enableNativeSidecar": True}}, "asm")
CART = ("Deployment", "cart")


def mixed_cluster():
    return rows(
        (pods.istio("native", name="cart-a"), CART),
        (pods.istio("native", name="cart-b"), CART),
        (pods.istio("traditional", name="cart-c"), CART),  # mixed pods within one workload
        (pods.istio("traditional", name="web-a"), ("Deployment", "web")),  # already switched
        (pods.istio("native", name="db-0"), ("StatefulSet", "db")),
        (pods.istio("native", name="agent-x"), ("DaemonSet", "agent")),
        (pods.istio("native", name="old-0"), ("StatefulSet", "old")),  # OnDelete
        (pods.istio("native", name="frozen-a"), ("Deployment", "frozen")),  # paused
        (pods.istio("native", name="debug"), None),  # bare pod
        (pods.istio("native", name="migrate-x"), ("Job", "migrate")),
        (pods.istio("native", name="report-x"), ("CronJob", "report")),
        (pods.istio("native", name="canary-a"), ("Rollout", "canary")),
        (
            pods.istio(
                "native", name="pinned-a", annotations={"sidecar.istio.io/nativeSidecar": "true"}
            ),
            ("Deployment", "pinned"),
        ),
        (pods.pod(name="plain"), ("Deployment", "plain")),
        (pods.istio_gateway(), ("Deployment", "istio-ingressgateway")),
        (pods.linkerd("native", name="other-mesh"), ("Deployment", "l5d")),
    )


FACTS = {
    ("StatefulSet", "shop", "old"): WorkloadFacts("StatefulSet", "shop", "old", on_delete=True),
    ("Deployment", "shop", "frozen"): WorkloadFacts("Deployment", "shop", "frozen", paused=True),
}


def test_switch_plan_restarts_each_workload_with_old_mode_pods_once():
    plan = plan_switch(mixed_cluster(), ASM_NATIVE, "traditional", FACTS)
    assert [(r.ref.short, r.pods) for r in plan.restarts] == [
        ("DaemonSet/agent", 1),
        ("Deployment/cart", 2),
        ("Rollout/canary", 1),
        ("StatefulSet/db", 1),
    ]
    assert [c.describe() for c in plan.config_changes] == [
        "ASMMeshConfig default on context asm: spec.enableNativeSidecar true -> false"
    ]


def test_switch_plan_lists_what_a_restart_cant_fix():
    plan = plan_switch(mixed_cluster(), ASM_NATIVE, "traditional", FACTS)
    manual = {m.what: m.todo for m in plan.manual}
    assert set(manual) == {
        "Pod/debug",
        "Job/migrate",
        "CronJob/report",
        "StatefulSet/old",
        "Deployment/frozen",
    }
    assert "recreate" in manual["Pod/debug"]
    assert "next run" in manual["CronJob/report"]
    assert "OnDelete" in manual["StatefulSet/old"]
    assert "kubectl rollout resume -n shop deployment/frozen" in manual["Deployment/frozen"]


def test_switch_plan_leaves_switched_pinned_and_non_mesh_pods_alone():
    plan = plan_switch(mixed_cluster(), ASM_NATIVE, "traditional", FACTS)
    refs = {r.ref.short for r in plan.restarts}
    assert not refs & {
        "Deployment/web",
        "Deployment/pinned",
        "Deployment/plain",
        "Deployment/istio-ingressgateway",
        "Deployment/l5d",
    }
    # web-a, cart-c (a traditional pod in a mixed workload) and pinned-a (its own annotation
    # keeps it native) are already where they should be.
    assert plan.already == 3
    assert plan.outside == 3  # plain, the gateway, the linkerd pod


def test_second_run_after_success_plans_nothing():
    switched = rows(
        (pods.istio("traditional", name="cart-a"), CART),
        (pods.istio("traditional", name="cart-b"), CART),
    )
    plan = plan_switch(
        switched, asm_config({"spec": {"enableNativeSidecar": False}}, "asm"), "traditional", {}
    )
    assert plan.empty and not plan.manual


def test_resumed_run_skips_the_config_and_restarts_only_what_is_left():
    half_done = rows(
        (pods.istio("traditional", name="cart-a"), CART),
        (pods.istio("native", name="db-0"), ("StatefulSet", "db")),
    )
    plan = plan_switch(
        half_done, asm_config({"spec": {"enableNativeSidecar": False}}, "asm"), "traditional", {}
    )
    assert plan.config_changes == []
    assert [r.ref.short for r in plan.restarts] == ["StatefulSet/db"]


def test_terminating_pods_of_the_old_replicaset_are_not_counted():
    pod = pods.istio("native", name="cart-old")
    pod["metadata"]["deletionTimestamp"] = "2026-11-24T12:00:00Z"
    plan = plan_switch(
        rows((pod, CART)),
        asm_config({"spec": {"enableNativeSidecar": False}}, None),
        "traditional",
        {},
    )
    assert plan.restarts == [] and plan.already == 0


def test_istio_switch_patches_the_istiod_of_each_used_revision_only():
    mesh = istio_config(
        [
            istiod("true", image="pilot:1.24.0"),
            istiod(None, image="pilot:1.24.0", revision="canary", name="istiod-canary"),
            istiod("true", image="pilot:1.24.0", revision="unused", name="istiod-unused"),
        ],
        None,
        "prod",
    )
    cluster = rows(
        (pods.istio("native", name="a"), CART),
        (pods.istio("traditional", name="b", revision="canary"), ("Deployment", "b")),
    )
    plan = plan_switch(cluster, mesh, "traditional", {})
    # The canary's default already means traditional; it is still pinned explicitly so an
    # Istio upgrade (1.27 defaults to auto) can't flip it back.
    assert [(c.name, c.old, c.new) for c in plan.config_changes] == [
        ("istiod-canary", "unset (traditional)", "false"),
        ("istiod", "true (native)", "false"),
    ]
    plan = plan_switch(cluster, mesh, "native", {})
    assert [(c.name, c.old) for c in plan.config_changes] == [
        ("istiod-canary", "unset (traditional)")
    ]


def test_linkerd_switch_annotates_namespaces_with_linkerd_pods():
    mesh = linkerd_config(
        {"data": {"values": "linkerdVersion: edge-26.5.2\nproxy:\n  nativeSidecar: false\n"}}, []
    )
    cluster = rows((pods.linkerd("traditional", name="a"), CART))
    plan = plan_switch(cluster, mesh, "native", {})
    assert [(c.kind, c.name, c.new) for c in plan.config_changes] == [("Namespace", "shop", "true")]
    assert [r.ref.short for r in plan.restarts] == ["Deployment/cart"]


L5D_STABLE, L5D_BETA, L5D_ALPHA = LINKERD_KEYS


@pytest.mark.parametrize(
    "namespace, own, restarted",
    [
        # No namespace annotation yet: the switch writes the stable key, which every pod inherits
        # unless its workload sets that same key.
        ({}, None, True),
        ({}, {L5D_STABLE: "false"}, False),
        ({}, {L5D_BETA: "false"}, True),  # beta and alpha come after the inherited stable key
        ({}, {L5D_ALPHA: "false"}, True),
        # The namespace's alpha key already says native, so nothing is written there: then the
        # workload's own alpha (or beta) key still pins it.
        ({L5D_ALPHA: "true"}, {L5D_ALPHA: "false"}, False),
        ({L5D_ALPHA: "true"}, {L5D_BETA: "false"}, False),
        ({L5D_ALPHA: "true"}, None, True),
    ],
)
def test_linkerd_switch_leaves_alone_what_linkerd_will_still_inject_traditional(
    namespace, own, restarted
):
    mesh = linkerd_config(
        {"data": {"values": "linkerdVersion: edge-26.5.2\nproxy:\n  nativeSidecar: false\n"}},
        [{"metadata": {"name": "shop", "annotations": namespace}}],
    )
    [row] = rows((pods.linkerd("traditional", name="a"), CART))
    # What status.Assessor leaves of the pod's annotations: its workload's own.
    row.mode_annotations = tuple(own.items()) if own else None
    plan = plan_switch([row], mesh, "native", {})
    assert [r.ref.short for r in plan.restarts] == (["Deployment/cart"] if restarted else [])
    assert plan.already == (0 if restarted else 1)


@pytest.mark.parametrize(
    "version, key",
    [("edge-25.4.4", L5D_ALPHA), ("edge-25.10.7", L5D_BETA), ("edge-26.5.2", L5D_STABLE)],
)
def test_linkerd_per_workload_switch_and_pins_use_the_key_the_release_reads(version, key):
    mesh = linkerd_config(
        {"data": {"values": f"linkerdVersion: {version}\nproxy:\n  nativeSidecar: false\n"}},
        [],
    )
    cluster = rows((pods.linkerd("traditional", name="a"), CART))
    workloads = [(WorkloadRef("Deployment", "shop", "cart"), "linkerd", {L5D_STABLE: "true"})]
    plan = plan_override(cluster, workloads, "native", {}, mesh)
    # A stable key left on the template is read by 2.20 only.
    assert [(o.ref.short, o.annotation, o.value) for o in plan.overrides] == (
        [] if key == L5D_STABLE else [("Deployment/cart", key, "true")]
    )
    assert plan_switch(cluster, mesh, "native", {}).override_key("linkerd") == key
    assert plan_switch(cluster, mesh, "native", {}).override_key("istio") == (
        "sidecar.istio.io/nativeSidecar"
    )


def test_restart_plan_follows_each_pods_configured_mode():
    cluster = rows(
        (pods.istio("native", name="a"), CART),
        (pods.istio("traditional", name="b"), ("Deployment", "b")),
    )
    cluster[0].desired, cluster[1].desired = "traditional", "traditional"
    plan = plan_restart(cluster, {})
    assert [r.ref.short for r in plan.restarts] == ["Deployment/cart"] and not plan.config_changes


def test_override_plan_annotates_named_workloads_not_yet_pinned():
    cluster = rows(
        (pods.istio("native", name="cart-a"), CART),
        (pods.istio("native", name="web-a"), ("Deployment", "web")),
        (pods.istio("native", name="other"), ("Deployment", "other")),
    )
    workloads = [
        (WorkloadRef("Deployment", "shop", "cart"), "istio", {}),
        (
            WorkloadRef("Deployment", "shop", "web"),
            "istio",
            {"sidecar.istio.io/nativeSidecar": "false"},
        ),
    ]
    plan = plan_override(cluster, workloads, "traditional", {})
    assert [(o.ref.short, o.annotation, o.value) for o in plan.overrides] == [
        ("Deployment/cart", "sidecar.istio.io/nativeSidecar", "false")
    ]
    # web is already pinned but its pod is still native: restart it; other is not named.
    assert [r.ref.short for r in plan.restarts] == ["Deployment/web"]


CONSUL_AS_SIDECAR = "consul.hashicorp.com/enable-consul-dataplane-as-sidecar"


def consul_cluster():
    return rows(
        (pods.consul_k8s("traditional", name="web-a"), ("Deployment", "web")),
        (pods.consul_k8s("native", name="api-a"), ("Deployment", "api")),
        (
            pods.consul_k8s(
                "traditional", name="pinned-a", annotations={CONSUL_AS_SIDECAR: "false"}
            ),
            ("Deployment", "pinned"),
        ),
        (pods.istio("traditional", name="other-mesh"), ("Deployment", "other")),
    )


def test_consul_switch_rewrites_the_injector_flag_and_restarts_old_mode_workloads():
    injector = helm_injector()
    injector["metadata"]["resourceVersion"] = "4711"
    plan = plan_switch(consul_cluster(), consul_config(injector, "prod"), "native", {})
    [change] = plan.config_changes
    assert change.describe() == (
        f"Deployment consul/consul-connect-injector on context prod: arg -{FLAG} false -> true"
    )
    assert change.rolls_out and not change.on_mesh_instance
    patch = change.patch()
    assert patch.ref == "deployment.apps/consul-connect-injector -n consul"
    assert patch.body == {
        "metadata": {"resourceVersion": "4711"},
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "sidecar-injector",
                            "command": ["/bin/sh", "-ec", helm_script(f"-{FLAG}=true \\\n")],
                        }
                    ]
                }
            }
        },
    }
    assert change.describe_done() == (
        f"deployment.apps/consul-connect-injector -n consul patched (-{FLAG}: false -> true; "
        "set connectInject.dataplaneAsSidecarInitContainer.defaultEnabled=true in the Helm "
        "release's values too, or the next `helm upgrade` reverts this)"
    )
    # web is traditional; pinned keeps its own annotation; the Istio pod is another mesh's.
    assert [r.ref.short for r in plan.restarts] == ["Deployment/web"]
    assert (plan.already, plan.outside) == (2, 1)


def test_consul_switch_without_the_flag_adds_it_and_says_it_was_unset():
    plan = plan_switch(consul_cluster(), consul_config(argv_injector()), "native", {})
    [change] = plan.config_changes
    assert (change.old, change.new) == ("unset (false)", "true")
    assert change.container_patch["args"][:2] == ["inject-connect", f"-{FLAG}=true"]
    assert "resourceVersion" not in str(change.patch().body)  # none read, none to hold to


def test_consul_switch_already_configured_changes_only_pods():
    plan = plan_switch(consul_cluster(), consul_config(helm_injector()), "traditional", {})
    assert plan.config_changes == []
    assert [r.ref.short for r in plan.restarts] == ["Deployment/api"]
    # Without an injector there is nothing to patch: switch's preflight refuses first.
    assert config_changes_for(consul_config(None)) == []


def config_changes_for(mesh):
    return plan_switch(consul_cluster(), mesh, "native", {}).config_changes


def test_consul_override_plan_uses_consuls_pod_annotation():
    cluster = rows((pods.consul_k8s("traditional", name="web-a"), ("Deployment", "web")))
    plan = plan_override(
        cluster, [(WorkloadRef("Deployment", "shop", "web"), "consul", {})], "native", {}
    )
    assert [(o.ref.short, o.annotation, o.value) for o in plan.overrides] == [
        ("Deployment/web", CONSUL_AS_SIDECAR, "true")
    ]
    # The annotation rolls the workload out itself: no separate restart.
    assert plan.restarts == []


def test_a_restart_already_rolling_out_is_waited_for_once_the_config_says_the_target():
    # A run stopped midway: its restart of db is still rolling out, the config already changed.
    half_done = rows((pods.istio("native", name="db-0"), ("StatefulSet", "db")))
    facts = {
        ("StatefulSet", "shop", "db"): WorkloadFacts("StatefulSet", "shop", "db", in_flight=True)
    }
    rerun = plan_switch(
        half_done, asm_config({"spec": {"enableNativeSidecar": False}}, "asm"), "traditional", facts
    )
    assert [(r.ref.short, r.in_flight) for r in rerun.restarts] == [("StatefulSet/db", True)]
    # Before the config changes, new pods would still come in the old mode: restart it.
    first = plan_switch(half_done, ASM_NATIVE, "traditional", facts)
    assert first.config_changes
    assert [(r.ref.short, r.in_flight) for r in first.restarts] == [("StatefulSet/db", False)]


def test_ambient_pods_are_never_restarted_by_a_switch_or_a_restart():
    ambient = {"annotations": {"ambient.istio.io/redirection": "enabled"}}
    cluster = rows(
        (pods.pod(name="amb-a", **ambient), ("Deployment", "amb")),
        (pods.istio("native", name="both-a", **ambient), ("Deployment", "both")),
    )
    plan = plan_switch(cluster, ASM_NATIVE, "traditional", {})
    assert [r.ref.short for r in plan.restarts] == ["Deployment/both"]  # its sidecar wins
    assert plan.outside == 1
    for row in cluster:
        row.desired = "traditional"
    assert [r.ref.short for r in plan_restart(cluster, {}).restarts] == ["Deployment/both"]


def test_override_plan_leaves_a_workload_ref_rollout_to_the_user():
    """Argo Rollouts rejects a template beside spec.workloadRef (InvalidSpec, Degraded): no
    annotation is written into it and it isn't restarted for nothing; the plan says where the
    annotation goes."""
    api = ("Rollout", "api")
    cluster = rows(
        (pods.istio("traditional", name="api-a"), api),
        (pods.istio("traditional", name="cart-a"), CART),
    )
    workloads = [
        (WorkloadRef("Rollout", "shop", "api"), "istio", {}),
        (WorkloadRef("Deployment", "shop", "cart"), "istio", {}),
    ]
    template_from = {WorkloadRef("Rollout", "shop", "api"): "deployment/api"}
    plan = plan_override(cluster, workloads, "native", {}, template_from=template_from)
    assert [o.ref.short for o in plan.overrides] == ["Deployment/cart"]
    assert not [r for r in plan.restarts if r.ref.short == "Rollout/api"]
    [manual] = plan.manual
    assert manual.what == "Rollout/api"
    assert (
        "deployment/api" in manual.todo and 'sidecar.istio.io/nativeSidecar: "true"' in manual.todo
    )
