from kubectl_sidecar.workloads import (
    controllers,
    facts_index,
    resolve_workload,
    template_reference,
)
from tests.unit.pods import ref


def _meta(kind, name, namespace="shop", owner=None, spec=None):
    metadata = {"name": name, "namespace": namespace}
    if owner:
        metadata["ownerReferences"] = [
            {"kind": "Other", "name": "not-the-controller"},
            {"kind": owner[0], "name": owner[1], "controller": True},
        ]
    return {"kind": kind, "metadata": metadata, "spec": spec or {}}


def test_replicaset_resolves_to_its_deployment_and_job_to_its_cronjob():
    parents = controllers(
        [
            _meta("ReplicaSet", "cart-7d9c", owner=("Deployment", "cart")),
            _meta("ReplicaSet", "lonely"),
        ],
        "ReplicaSet",
    )
    parents.update(controllers([_meta("Job", "report-2911", owner=("CronJob", "report"))], "Job"))
    assert parents == {
        ref("ReplicaSet", "cart-7d9c"): ref("Deployment", "cart"),
        ref("Job", "report-2911"): ref("CronJob", "report"),
    }
    assert resolve_workload(ref("ReplicaSet", "cart-7d9c"), parents) == ref("Deployment", "cart")
    assert resolve_workload(ref("Job", "report-2911"), parents) == ref("CronJob", "report")


def test_argo_rollout_replicaset_resolves_to_the_rollout():
    parents = controllers([_meta("ReplicaSet", "web-55f", owner=("Rollout", "web"))], "ReplicaSet")
    assert resolve_workload(ref("ReplicaSet", "web-55f"), parents) == ref("Rollout", "web")


def test_owners_without_a_parent_stay_as_they_are():
    parents = controllers([_meta("ReplicaSet", "lonely")], "ReplicaSet")
    assert resolve_workload(ref("ReplicaSet", "lonely"), parents) == ref("ReplicaSet", "lonely")
    assert resolve_workload(ref("Job", "one-off"), {}) == ref("Job", "one-off")
    assert resolve_workload(ref("StatefulSet", "db"), {}) == ref("StatefulSet", "db")
    assert resolve_workload(ref("CloneSet", "x"), {}) == ref("CloneSet", "x")
    assert resolve_workload(None, {}) is None


def test_same_name_in_another_namespace_is_not_confused():
    parents = controllers(
        [_meta("ReplicaSet", "cart-7d9c", namespace="other", owner=("Deployment", "wrong"))],
        "ReplicaSet",
    )
    assert resolve_workload(ref("ReplicaSet", "cart-7d9c"), parents) == ref(
        "ReplicaSet", "cart-7d9c"
    )


def test_owner_index_reads_paused_and_on_delete():
    index = facts_index(
        [
            _meta("Deployment", "paused", spec={"paused": True}),
            _meta("StatefulSet", "db", spec={"updateStrategy": {"type": "OnDelete"}}),
            _meta("DaemonSet", "agent", spec={"updateStrategy": {"type": "RollingUpdate"}}),
        ],
        "X",
    )
    assert index[("shop", "paused")].paused
    assert index[("shop", "db")].on_delete
    assert not index[("shop", "agent")].on_delete and not index[("shop", "agent")].paused


def test_facts_keep_the_mode_annotations_of_the_pod_template_only():
    template = {
        "metadata": {
            "annotations": {
                "config.beta.linkerd.io/proxy-enable-native-sidecar": "false",
                "config.linkerd.io/proxy-enable-native-sidecar": "true",
                "sidecar.istio.io/nativeSidecar": "true",
                "kubectl.kubernetes.io/restartedAt": "2026-11-25T10:00:00Z",
            }
        }
    }
    index = facts_index(
        [
            _meta("Deployment", "web", spec={"template": template}),
            _meta("Deployment", "plain", spec={"template": {"metadata": {}}}),
            _meta("Deployment", "bare"),
        ],
        "Deployment",
    )
    # In OVERRIDE_ANNOTATIONS order (each mesh's reading order); nothing else of the template.
    assert index[("shop", "web")].template_modes == (
        ("sidecar.istio.io/nativeSidecar", "true"),
        ("config.linkerd.io/proxy-enable-native-sidecar", "true"),
        ("config.beta.linkerd.io/proxy-enable-native-sidecar", "false"),
    )
    assert index[("shop", "plain")].template_modes == index[("shop", "bare")].template_modes == ()


def test_a_workload_ref_rollout_runs_its_deployments_template():
    ref_only = {
        "spec": {"workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api"}}
    }
    assert template_reference(ref_only) == ("Deployment", "api")
    own = {"spec": {"template": {"metadata": {}}, "selector": {}}}
    assert template_reference(own) is None
    assert template_reference({}) is None


def test_a_rollout_restart_left_midway_is_in_flight():
    """A run stopped while the controller was still evicting a Rollout's pods: restartAt set,
    not yet copied to status.restartedAt."""
    rollout = _meta("Rollout", "web", spec={"restartAt": "2026-12-07T05:00:01+00:00"})
    rollout["metadata"]["generation"] = 2
    rollout["status"] = {"observedGeneration": "2", "phase": "Healthy"}
    assert facts_index([rollout], "Rollout")[("shop", "web")].in_flight
    rollout["status"]["restartedAt"] = "2026-12-07T05:00:01Z"
    assert not facts_index([rollout], "Rollout")[("shop", "web")].in_flight
