"""Consul through kubectl: consul-dataplane pods as consul-k8s injects them, in both modes;
DESIRED from the injector's flag or the pod's annotation; switch rewriting the flag.

The harness injector follows consul-k8s's (tests/harness/injectors/consul.py): the mode comes from
the pod's consul.hashicorp.com/enable-consul-dataplane-as-sidecar, else the injector Deployment's
-default-enable-consul-dataplane-as-sidecar flag. Each DESIRED asserted here is also checked
against what that injector gives a new pod now (seed.injected_mode), so the test holds the plugin
to the mesh, not to itself.
"""

import pytest

from tests.e2e.reports import items_by_workload
from tests.harness import seed
from tests.harness.api import resource_path
from tests.harness.injectors import consul as consul_injector

NS = "consul-shop"
OPT_IN = {seed.CONSUL_INJECT: "true"}


def _spec_names(pod):
    spec = pod["spec"]
    return (
        [(c["name"], c.get("restartPolicy")) for c in spec.get("initContainers") or []],
        [c["name"] for c in spec["containers"]],
    )


@pytest.fixture(scope="module")
def consul_pods(consul_mesh):
    """Injected while the flag said traditional: `web` (proxy lifecycle on: dataplane first),
    `legacy` (lifecycle off by annotation: dataplane last), `api` (native by annotation, after
    its own init container). Then the flag says native: `fresh`. `plain` never opted in."""
    admin = consul_mesh
    seed.namespace(admin, NS, injection=False)
    seed.deployment(admin, NS, "web", annotations=OPT_IN)
    seed.deployment(
        admin,
        NS,
        "legacy",
        replicas=1,
        annotations={**OPT_IN, "consul.hashicorp.com/enable-sidecar-proxy-lifecycle": "false"},
    )
    seed.deployment(
        admin,
        NS,
        "api",
        replicas=1,
        init_containers=["migrate"],
        annotations={**OPT_IN, seed.CONSUL_AS_SIDECAR: "true"},
    )
    seed.deployment(admin, NS, "plain", replicas=1)
    seed.wait_for_pods(admin, NS, 5)
    seed.consul_mesh(admin, native=True)
    assert seed.consul_injector_flag(admin) is True
    seed.deployment(admin, NS, "fresh", replicas=1, annotations=OPT_IN)
    seed.wait_for_pods(admin, NS, 6)
    yield {pod["metadata"]["labels"]["app"]: pod for pod in seed.pods(admin, NS)}
    seed.delete_namespace(admin, NS, wait=False)


def test_pods_have_consul_k8s_shapes(consul_pods):
    """The stand-in injects what consul-k8s does (so the classification below means something)."""
    assert _spec_names(consul_pods["web"]) == (
        [("consul-connect-inject-init", None)],
        ["consul-dataplane", "web"],
    )
    assert _spec_names(consul_pods["legacy"]) == (
        [("consul-connect-inject-init", None)],
        ["legacy", "consul-dataplane"],
    )
    assert _spec_names(consul_pods["api"]) == (
        [("migrate", None), ("consul-connect-inject-init", None), ("consul-dataplane", "Always")],
        ["api"],
    )
    assert _spec_names(consul_pods["fresh"]) == (
        [("consul-connect-inject-init", None), ("consul-dataplane", "Always")],
        ["fresh"],
    )
    assert (
        consul_pods["web"]["metadata"]["annotations"]["consul.hashicorp.com/connect-inject-status"]
        == "injected"
    )
    assert _spec_names(consul_pods["plain"]) == ([], ["plain"])


def test_status_classifies_native_and_traditional_consul_dataplane(kubectl, consul_pods):
    report = kubectl.sidecar_json("status", "-n", NS)
    found = {}
    for item in report["items"]:
        found.setdefault(item["workload"]["name"], set()).add((item["proxy"], item["mode"]))
    assert found == {
        "web": {("consul-dataplane", "traditional")},
        "legacy": {("consul-dataplane", "traditional")},
        "api": {("consul-dataplane", "native")},
        "fresh": {("consul-dataplane", "native")},
        "plain": {(None, "none")},
    }
    assert report["summary"]["modes"]["native"] == 2
    assert report["summary"]["modes"]["traditional"] == 3


# --- DESIRED and switch: after the status tests above (whose pods stay until the module ends) ---

SWITCH_NS = "consul-switch"
FLAG = consul_injector.AS_SIDECAR_FLAG
INJECTOR = "Deployment consul/consul-connect-injector"
HELM_VALUE = "connectInject.dataplaneAsSidecarInitContainer.defaultEnabled"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"


def _injector(admin):
    return admin.get(consul_injector.INJECTOR)


def _injector_rolled_out(admin):
    """Until the injector Deployment's rollout is complete, so nothing changes it under a test."""

    def done():
        deployment = _injector(admin)
        status = deployment.get("status") or {}
        replicas = deployment["spec"].get("replicas", 1)
        return (
            status.get("observedGeneration", 0) >= deployment["metadata"]["generation"]
            and status.get("updatedReplicas") == replicas
            and status.get("availableReplicas") == replicas
            and status.get("replicas") == replicas
        )

    admin.wait_for("consul-connect-injector rolled out", done, timeout=300)


def _set_injector_default(admin, native):
    seed.consul_mesh(admin, native=native)
    assert seed.consul_injector_flag(admin) is native
    _injector_rolled_out(admin)


def _old_mode_deployments(admin):
    """(namespace, Deployment) of every Consul pod in the cluster that is traditional and not
    pinned by its own annotation: read off the pods, independently of the plugin."""
    found = set()
    for pod in admin.items(resource_path("v1", "pods")):
        metadata = pod["metadata"]
        if metadata.get("deletionTimestamp") or seed.proxy_mode(pod) != "traditional":
            continue
        if not any(c["name"] == "consul-dataplane" for c in pod["spec"]["containers"]):
            continue
        if (metadata.get("annotations") or {}).get(seed.CONSUL_AS_SIDECAR):
            continue
        found.add((metadata["namespace"], metadata["labels"]["app"]))  # seed names pods' app
    return found


def _restarted_at(admin):
    return {
        (d["metadata"]["namespace"], d["metadata"]["name"]): (
            d["spec"]["template"]["metadata"].get("annotations") or {}
        ).get(RESTARTED_AT)
        for d in admin.items(resource_path("apps/v1", "deployments"))
    }


def _generations(admin):
    return {
        (d["metadata"]["namespace"], d["metadata"]["name"]): d["metadata"]["generation"]
        for d in admin.items(resource_path("apps/v1", "deployments"))
    }


@pytest.fixture(scope="module")
def consul_fleet(consul_mesh):
    """The injector's flag says traditional. consul-switch: `cart` (2 pods) and `checkout` opt in
    without a mode (traditional), `pinned` asks for traditional and `early` for native on their
    pod templates."""
    admin = consul_mesh
    _set_injector_default(admin, False)
    seed.namespace(admin, SWITCH_NS, injection=False)
    seed.deployment(admin, SWITCH_NS, "cart", annotations=OPT_IN)
    seed.deployment(admin, SWITCH_NS, "checkout", replicas=1, annotations=OPT_IN)
    seed.deployment(
        admin,
        SWITCH_NS,
        "pinned",
        replicas=1,
        annotations={**OPT_IN, seed.CONSUL_AS_SIDECAR: "false"},
    )
    seed.deployment(
        admin,
        SWITCH_NS,
        "early",
        replicas=1,
        annotations={**OPT_IN, seed.CONSUL_AS_SIDECAR: "true"},
    )
    seed.wait_for_pods(admin, SWITCH_NS, 5)
    assert seed.modes(admin, SWITCH_NS) == ["native"] + ["traditional"] * 4
    yield admin
    seed.delete_namespace(admin, SWITCH_NS, wait=False)


def test_desired_comes_from_the_injector_flag_unless_the_pod_annotation_says(kubectl, consul_fleet):
    admin = consul_fleet
    flag_false = f"{INJECTOR} arg -{FLAG}=false"
    annotation = f"pod annotation {seed.CONSUL_AS_SIDECAR}"
    report = kubectl.sidecar_json("status", "-n", SWITCH_NS)  # --mesh auto finds Consul
    assert (report["mesh"]["name"], report["mesh"]["source"]) == ("consul", flag_false)
    expected = {
        "cart": ("traditional", "traditional", flag_false, "ok"),
        "checkout": ("traditional", "traditional", flag_false, "ok"),
        "pinned": ("traditional", "traditional", annotation, "ok"),
        "early": ("native", "native", annotation, "ok"),
    }
    found = {
        name: {(i["mode"], i["desiredMode"], i["desiredModeSource"], i["action"]) for i in items}
        for name, items in items_by_workload(report).items()
    }
    assert found == {name: {row} for name, row in expected.items()}
    for name, (_, desired, _, _) in expected.items():
        assert seed.injected_mode(admin, SWITCH_NS, name) == desired, name

    # The flag flipped behind the plugin's back (a helm upgrade): DESIRED follows it, except
    # where the pod's annotation decides.
    _set_injector_default(admin, True)
    try:
        flag_true = f"{INJECTOR} arg -{FLAG}=true"
        report = kubectl.sidecar_json("status", "-n", SWITCH_NS, "--mesh", "consul")
        found = {
            name: {
                (i["desiredMode"], i["desiredModeSource"], i["needsRestart"], i["action"])
                for i in items
            }
            for name, items in items_by_workload(report).items()
        }
        assert found == {
            "cart": {("native", flag_true, True, "restart Deployment/cart")},
            "checkout": {("native", flag_true, True, "restart Deployment/checkout")},
            "pinned": {("traditional", annotation, False, "ok")},
            "early": {("native", annotation, False, "ok")},
        }
        assert seed.injected_mode(admin, SWITCH_NS, "cart") == "native"
        assert seed.injected_mode(admin, SWITCH_NS, "pinned") == "traditional"
    finally:
        _set_injector_default(admin, False)


def test_switch_native_patches_the_injector_restarts_the_old_mode_only_and_reruns_as_a_no_op(
    kubectl, consul_fleet
):
    admin = consul_fleet
    _set_injector_default(admin, False)
    script_before = _injector(admin)["spec"]["template"]["spec"]["containers"][0]["command"][2]
    old_mode = _old_mode_deployments(admin)
    assert {(SWITCH_NS, "cart"), (SWITCH_NS, "checkout")} <= old_mode
    assert not {(SWITCH_NS, "pinned"), (SWITCH_NS, "early")} & old_mode
    restarted_before = _restarted_at(admin)

    done = kubectl.sidecar("switch", "--native", "--mesh", "consul", "--yes", "--timeout", "10m")
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "Verify: every pod that a restart could switch is in its target mode." in done.stdout

    # The injector: the flag rewritten in the chart's script, every other word as it was.
    assert seed.consul_injector_flag(admin) is True
    script = _injector(admin)["spec"]["template"]["spec"]["containers"][0]["command"][2]
    assert script == script_before.replace(f"-{FLAG}=false", f"-{FLAG}=true")
    assert f"set {HELM_VALUE}=true in the Helm release's values too" in done.stderr
    # ...and rolled out before any workload restarted, so the new pods get the new mode.
    rolled_out = done.stderr.index("deployment.apps/consul-connect-injector -n consul rolled out")
    assert rolled_out < done.stderr.index(" restarted")

    # Exactly the Deployments that had traditional, unpinned Consul pods were restarted.
    after = _restarted_at(admin)
    restarted = {key for key, stamp in after.items() if stamp != restarted_before.get(key)}
    assert restarted == old_mode
    seed.wait_for_pods(admin, SWITCH_NS, 5)
    assert seed.modes(admin, SWITCH_NS, "app in (cart,checkout,early)") == ["native"] * 4
    assert seed.modes(admin, SWITCH_NS, "app=pinned") == ["traditional"]  # its annotation wins

    generations = _generations(admin)
    again = kubectl.sidecar("switch", "--native", "--mesh", "consul", "--yes")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "Nothing to change" in again.stdout
    assert _generations(admin) == generations  # the injector included


def test_per_workload_switch_sets_the_consul_annotation_on_the_template_only(kubectl, consul_fleet):
    admin = consul_fleet
    flag = seed.consul_injector_flag(admin)
    done = kubectl.sidecar(
        "switch",
        "--traditional",
        "deployment/early",
        "-n",
        SWITCH_NS,
        "--mesh",
        "consul",
        "--yes",
        "--timeout",
        "10m",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert seed.template_annotations(admin, SWITCH_NS, "early")[seed.CONSUL_AS_SIDECAR] == "false"
    assert seed.consul_injector_flag(admin) is flag  # the mesh-wide default is left alone
    seed.wait_for_pods(admin, SWITCH_NS, 5)
    assert seed.modes(admin, SWITCH_NS, "app=early") == ["traditional"]
    [item] = kubectl.sidecar_json("status", "-n", SWITCH_NS, "-l", "app=early")["items"]
    assert (item["mode"], item["desiredMode"], item["action"]) == (
        "traditional",
        "traditional",
        "ok",
    )


def test_a_helm_injector_is_patched_and_the_upgrade_that_keeps_it_printed(kubectl, consul_fleet):
    """The connect-injector as `helm install consul hashicorp/consul -n consul` leaves it: Helm's
    managed-by label and release annotations beside the chart's `chart: consul-helm`."""
    admin = consul_fleet
    _set_injector_default(admin, False)
    admin.patch(
        consul_injector.INJECTOR,
        {
            "metadata": {
                "labels": {"app.kubernetes.io/managed-by": "Helm"},
                "annotations": {
                    "meta.helm.sh/release-name": "consul",
                    "meta.helm.sh/release-namespace": "consul",
                },
            }
        },
    )
    try:
        done = kubectl.sidecar(
            "switch", "--native", "--mesh", "consul", "--yes", "--no-restart", "--timeout", "10m"
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert (
            "owned by Helm release consul/consul: to keep it through the next helm upgrade, run: "
            "helm upgrade consul consul -n consul --reuse-values "
            "--set connectInject.dataplaneAsSidecarInitContainer.defaultEnabled=true"
        ) in done.stdout
        assert seed.consul_injector_flag(admin) is True
    finally:
        _set_injector_default(admin, False)  # a whole replacement: Helm's markers go too


# --- pods that lost the mesh: status flags them, restart restores them --------------------------

LOST, DENIED = "consul-lost", "consul-lost-denied"


@pytest.fixture
def consul_lost_namespaces(consul_mesh):
    """consul-lost, and consul-lost-denied that the injector's -deny-k8s-namespace names; the
    injector as the module has it afterwards."""
    admin = consul_mesh
    seed.consul_mesh(admin, native=False, deny=(DENIED,))
    _injector_rolled_out(admin)
    for name in (LOST, DENIED):
        seed.namespace(admin, name, injection=False)
    yield admin
    for name in (LOST, DENIED):
        seed.delete_namespace(admin, name, wait=False)
    _set_injector_default(admin, False)


def test_consul_pods_created_while_its_injector_was_down_are_flagged_and_restart_restores_them(
    kubectl, consul_lost_namespaces
):
    from tests.e2e.test_injector_down import fail_open

    admin = consul_lost_namespaces
    restore = fail_open(
        admin, LOST, "consul-connect-injector", "consul-dataplane", annotations=OPT_IN
    )
    try:
        seed.deployment(admin, LOST, "web", replicas=2, annotations=OPT_IN)
        # never asked (the chart's -default-inject=false), or said no
        seed.deployment(admin, LOST, "plain", replicas=1)
        seed.deployment(admin, LOST, "batch", replicas=1, annotations={seed.CONSUL_INJECT: "false"})
        # asked, in a namespace the injector's flags deny
        seed.deployment(admin, DENIED, "web", replicas=1, annotations=OPT_IN)
        seed.wait_for_pods(admin, LOST, 4)
        seed.wait_for_pods(admin, DENIED, 1)
        assert seed.modes(admin, LOST) + seed.modes(admin, DENIED) == ["none"] * 5
    finally:
        restore()  # back: the pods it missed keep running without a proxy

    report = kubectl.sidecar_json("status", "-n", LOST)
    assert report["mesh"]["name"] == "consul"
    for item in report["items"]:
        if item["workload"]["name"] == "web":
            assert item["needsRestart"] is True, item
            assert item["problems"] == [
                "no proxy: webhook consul-connect-injector selects this pod"
            ]
        else:
            assert item["needsRestart"] is False and item["problems"] == [], item
    table = kubectl.sidecar("status", "-n", LOST, "--exit-code")
    assert table.returncode == 1, table.stdout + table.stderr
    assert "2 pod(s) need action, 1 workload(s) to restart." in table.stdout
    assert "not flagged" not in table.stderr, table.stderr
    # the injector would not inject there either: a restart would change nothing
    denied = kubectl.sidecar("status", "-n", DENIED, "--exit-code")
    assert denied.returncode == 0, denied.stdout + denied.stderr
    assert "0 pod(s) need action" in denied.stdout

    done = kubectl.sidecar("restart", "-n", LOST, "--yes", "--timeout", "10m")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "plain" not in done.stdout and "batch" not in done.stdout
    seed.wait_for_pods(admin, LOST, 4)
    assert seed.modes(admin, LOST, "app=web") == ["traditional"] * 2
    assert seed.modes(admin, LOST, "app in (plain,batch)") == ["none"] * 2
    assert kubectl.sidecar("status", "-n", LOST, "--exit-code").returncode == 0
