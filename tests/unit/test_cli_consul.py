"""status and switch for Consul through the CLI, with the cluster replaced by FakeCluster.

The fake's on_patch plays the controllers: the connect-injector Deployment takes its patch and
rolls out, and a restarted workload gets new pods in the mode the injector would give them
now (the pod template's annotation, else the injector's flag), so verify sees a real outcome.
"""

import copy
import json

import pytest

from kubectl_sidecar.meshes.consul import consul_setting
from tests.unit import pods
from tests.unit.fake_cluster import FakeCluster
from tests.unit.objects import deployment, node, replicaset
from tests.unit.test_meshes_consul import FLAG, argv_injector, helm_injector

AS_SIDECAR = "consul.hashicorp.com/enable-consul-dataplane-as-sidecar"
HELM_VALUE = "connectInject.dataplaneAsSidecarInitContainer.defaultEnabled"
STRATEGIC = "application/strategic-merge-patch+json"


def running(injector):
    """The injector Deployment as the API server shows it once rolled out."""
    injector = copy.deepcopy(injector)
    injector["metadata"].update(generation=1, resourceVersion="100")
    injector["spec"]["replicas"] = 1
    injector["status"] = {
        "observedGeneration": 1,
        "replicas": 1,
        "updatedReplicas": 1,
        "availableReplicas": 1,
    }
    return injector


def consul_objects(injector=None):
    """web: traditional pods; api: native pods; pinned: traditional, pinned by annotation."""
    pinned = deployment("pinned", replicas=1)
    pinned["spec"]["template"]["metadata"]["annotations"] = {AS_SIDECAR: "false"}
    return {
        "Node": [node("node-1", "v1.33.1")],
        "Deployment": [
            running(injector or helm_injector()),
            deployment("web"),
            deployment("api", replicas=1),
            pinned,
        ],
        "ReplicaSet": [
            replicaset("web-1", "web"),
            replicaset("api-1", "api"),
            replicaset("pinned-1", "pinned"),
        ],
        "Pod": [
            pods.consul_k8s("traditional", name="web-1-a", owner=("ReplicaSet", "web-1")),
            pods.consul_k8s("traditional", name="web-1-b", owner=("ReplicaSet", "web-1")),
            pods.consul_k8s("native", name="api-1-a", owner=("ReplicaSet", "api-1")),
            pods.consul_k8s(
                "traditional",
                name="pinned-1-a",
                owner=("ReplicaSet", "pinned-1"),
                annotations={AS_SIDECAR: "false"},
            ),
        ],
    }


def controllers(injector_fails=False):
    def on_patch(cluster, kind, namespace, name, body):
        if kind != "Deployment":
            return
        target = next(
            d
            for d in cluster.objects["Deployment"]
            if (d["metadata"]["namespace"], d["metadata"]["name"]) == (namespace, name)
        )
        target["metadata"]["generation"] += 1
        target["status"]["observedGeneration"] = target["metadata"]["generation"]
        if namespace == "consul":
            for entry in body["spec"]["template"]["spec"]["containers"]:
                container = next(
                    c
                    for c in target["spec"]["template"]["spec"]["containers"]
                    if c["name"] == entry["name"]
                )
                container.update({k: v for k, v in entry.items() if k != "name"})
            if injector_fails:
                target["status"]["conditions"] = [
                    {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}
                ]
            return
        template = target["spec"]["template"]["metadata"]
        template.setdefault("annotations", {}).update(
            body["spec"]["template"]["metadata"]["annotations"]
        )
        pinned = template["annotations"].get(AS_SIDECAR)
        injector = next(
            d for d in cluster.objects["Deployment"] if d["metadata"]["namespace"] == "consul"
        )
        native = pinned == "true" if pinned else consul_setting(injector).native
        replicaset_name = f"{name}-{target['metadata']['generation']}"
        cluster.objects["ReplicaSet"].append(replicaset(replicaset_name, name))
        keep = [
            p for p in cluster.objects["Pod"] if not p["metadata"]["name"].startswith(f"{name}-")
        ]
        annotations = {AS_SIDECAR: pinned} if pinned else {}
        new = [
            pods.consul_k8s(
                "native" if native else "traditional",
                name=f"{replicaset_name}-{i}",
                annotations=annotations,
                owner=("ReplicaSet", replicaset_name),
            )
            for i in range(target["spec"]["replicas"])
        ]
        cluster.objects["Pod"] = keep + new

    return on_patch


@pytest.fixture
def fake(connect_to):
    cluster = FakeCluster(consul_objects(), namespace="shop", on_patch=controllers())
    connect_to(cluster)
    return cluster


def injector_args(cluster):
    injector = next(
        d for d in cluster.objects["Deployment"] if d["metadata"]["namespace"] == "consul"
    )
    return consul_setting(injector)


def test_status_desired_comes_from_the_injector_flag_or_the_pod_annotation(fake, run):
    result = run("status", "-A", "--mesh", "consul")
    assert result.exit_code == 0, result.stderr
    rows = {line.split()[1]: line.split() for line in result.stdout.splitlines()[1:] if line}
    assert rows["web-1-a"][2:7] == [
        "Deployment/web",
        "consul-dataplane",
        "traditional",
        "traditional",
        "ok",
    ]
    assert rows["api-1-a"][4:7] == ["native", "traditional", "restart"]
    assert (
        f"Mesh consul: traditional (Deployment consul/consul-connect-injector arg -{FLAG}=false)"
    ) in result.stdout
    assert result.stderr == ""  # the Helm caveat is a switch's to say, not every status's

    # Auto-detected, as JSON: each pod says where its desired mode came from.
    report = json.loads(run("status", "-A", "-o", "json").stdout)
    assert report["mesh"]["name"] == "consul"
    sources = {
        item["pod"]: (item["desiredMode"], item["desiredModeSource"]) for item in report["items"]
    }
    assert sources["pinned-1-a"] == ("traditional", f"pod annotation {AS_SIDECAR}")
    assert sources["web-1-a"] == (
        "traditional",
        f"Deployment consul/consul-connect-injector arg -{FLAG}=false",
    )


def test_dry_run_prints_the_injector_change_and_the_restarts(fake, run):
    result = run("switch", "--native", "--mesh", "consul", "--dry-run")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert (
        f"Deployment consul/consul-connect-injector on context test: arg -{FLAG} false -> true"
    ) in out
    assert "shop        Deployment/web   2" in out
    assert "Deployment/api" not in out and "Deployment/pinned" not in out
    assert "Dry run: nothing was changed." in out
    assert fake.patches == []


def test_switch_patches_the_injector_waits_for_it_then_restarts_the_old_mode_workloads(fake, run):
    result = run("switch", "--native", "--mesh", "consul", "--yes")
    assert result.exit_code == 0, result.output
    assert [
        (kind, namespace, name, content_type)
        for kind, namespace, name, _, content_type, _ in fake.patches
    ] == [
        ("Deployment", "consul", "consul-connect-injector", STRATEGIC),
        ("Deployment", "shop", "web", STRATEGIC),
    ]
    body = fake.patches[0][3]
    assert body["metadata"] == {"resourceVersion": "100"}
    [container] = body["spec"]["template"]["spec"]["containers"]
    assert container["name"] == "sidecar-injector"
    assert f"-{FLAG}=true \\\n" in container["command"][2]
    assert injector_args(fake).native is True
    err = result.stderr
    # The injector is rolled out before any workload restarts: new pods get the new mode.
    assert err.index("deployment.apps/consul-connect-injector -n consul rolled out") < err.index(
        "deployment/web -n shop restarted"
    )
    assert f"set {HELM_VALUE}=true in the Helm release's values too" in err
    assert "Verify: every pod that a restart could switch is in its target mode." in result.stdout
    assert all(
        p["spec"].get("initContainers", [{}])[-1].get("restartPolicy") == "Always"
        for p in fake.objects["Pod"]
        if p["metadata"]["name"].startswith("web-")
    )

    fake.patches.clear()
    again = run("switch", "--native", "--mesh", "consul", "--yes")
    assert again.exit_code == 0, again.output
    assert "Nothing to change." in again.stdout
    assert fake.patches == []


def test_an_injector_that_does_not_roll_out_stops_before_any_restart(run, connect_to):
    cluster = FakeCluster(consul_objects(), on_patch=controllers(injector_fails=True))
    connect_to(cluster)
    result = run("switch", "--native", "--mesh", "consul", "--yes")
    assert result.exit_code == 1
    assert "consul/consul-connect-injector did not roll out" in result.stdout
    assert "0 of 1 workload(s) rolled out" in result.stdout
    assert [p[2] for p in cluster.patches] == ["consul-connect-injector"]


def test_an_injector_too_old_for_native_is_refused_and_force_only_where_it_is_safe(run, connect_to):
    old = argv_injector(image="hashicorp/consul-k8s-control-plane:1.8.1")
    cluster = FakeCluster(consul_objects(old))
    connect_to(cluster)
    result = run("switch", "--native", "--mesh", "consul", "--yes", "--force")
    assert result.exit_code == 1
    # One error line (after the Helm warning every Consul read prints), no traceback.
    assert [line for line in result.stderr.splitlines() if not line.startswith("Warning:")] == [
        "error: refusing to switch to native sidecars: the connect-injector "
        "consul/consul-connect-injector runs consul-k8s 1.8.1, which can't inject native "
        "sidecars; that needs consul-k8s 1.9.0 or later, or 1.6.9, 1.7.5, 1.8.2, and an "
        f"injector that old exits when started with -{FLAG}: upgrade consul-k8s first"
    ]
    assert "Traceback" not in result.output
    assert cluster.patches == []

    # With the flag already there, rewriting it can't stop the injector: --force may insist.
    flagged = FakeCluster(
        consul_objects(
            argv_injector(f"-{FLAG}=false", image="hashicorp/consul-k8s-control-plane:1.8.1")
        )
    )
    connect_to(flagged)
    refused = run("switch", "--native", "--mesh", "consul", "--dry-run")
    assert refused.exit_code == 1
    assert "which can't inject native sidecars" in refused.stderr
    assert refused.stderr.rstrip().endswith("(--force to switch anyway)")
    forced = run("switch", "--native", "--mesh", "consul", "--dry-run", "--force")
    assert forced.exit_code == 0, forced.output
    assert "(continuing: --force)" in forced.stderr
    assert f"arg -{FLAG} false -> true" in forced.stdout


def test_traditional_switch_of_an_old_injector_is_not_refused(run, connect_to):
    cluster = FakeCluster(
        consul_objects(argv_injector(image="hashicorp/consul-k8s-control-plane:1.5.3"))
    )
    connect_to(cluster)
    result = run("switch", "--traditional", "--mesh", "consul", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "Mesh config changes" not in result.stdout  # it injects traditional already


def test_switch_without_an_injector_is_one_error_line(run, connect_to):
    objects = consul_objects()
    objects["Deployment"] = objects["Deployment"][1:]
    connect_to(FakeCluster(objects))
    result = run("switch", "--native", "--mesh", "consul", "--yes", "--force")
    assert result.exit_code == 1
    assert result.stderr == (
        "error: refusing to switch to native sidecars: no consul-k8s connect-injector "
        "Deployment (component=connect-injector) found: nothing to switch\n"
    )


def test_per_workload_switch_sets_consuls_pod_annotation_only(fake, run):
    result = run("switch", "--native", "deployment/web", "-n", "shop", "--mesh", "consul", "--yes")
    assert result.exit_code == 0, result.output
    assert [(p[1], p[2]) for p in fake.patches] == [("shop", "web")]
    assert fake.patches[0][3]["spec"]["template"]["metadata"]["annotations"] == {AS_SIDECAR: "true"}
    assert injector_args(fake).native is False  # the mesh-wide flag is left alone
    assert "Verify: every pod that a restart could switch is in its target mode." in result.stdout


def test_per_workload_native_on_an_injector_that_ignores_the_annotation_is_refused(run, connect_to):
    cluster = FakeCluster(
        consul_objects(argv_injector(image="hashicorp/consul-k8s-control-plane:1.7.4")),
        namespace="shop",
    )
    connect_to(cluster)
    result = run("switch", "--native", "deployment/web", "--mesh", "consul", "--yes")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == (
        "error: refusing to switch to native sidecars: the connect-injector "
        "consul/consul-connect-injector runs consul-k8s 1.7.4, which can't inject native "
        "sidecars and ignores the pods' annotation; that needs consul-k8s 1.9.0 or later, or "
        "1.6.9, 1.7.5, 1.8.2 (--force to switch anyway)"
    )
    assert cluster.patches == []
    forced = run("switch", "--native", "deployment/web", "--mesh", "consul", "--dry-run", "--force")
    assert forced.exit_code == 0, forced.output
    assert "(continuing: --force)" in forced.stderr
    assert f"Deployment/web: {AS_SIDECAR}=true" in forced.stdout
