import pytest

from kubectl_sidecar.actions import Step, assess
from kubectl_sidecar.classify import classify_pod
from kubectl_sidecar.meshconfig import Setting
from kubectl_sidecar.render import action_text
from kubectl_sidecar.workloads import WorkloadFacts
from tests.unit import pods
from tests.unit.pods import ref

NATIVE = Setting(True, "test config")
TRADITIONAL = Setting(False, "test config")
UNKNOWN = Setting(None, "no config")


CART = ref("Deployment", "cart")


def row_for(mode="traditional", workload=CART, **kwargs):
    row = classify_pod(pods.istio(mode, **kwargs))
    row.workload = workload
    return row


@pytest.mark.parametrize(
    "workload, facts, action, needs",
    [
        (ref("Deployment", "cart"), None, "restart Deployment/cart", True),
        (ref("StatefulSet", "db"), None, "restart StatefulSet/db", True),
        (ref("DaemonSet", "agent"), None, "restart DaemonSet/agent", True),
        (ref("Rollout", "web"), None, "restart Rollout/web", True),
        (None, None, "recreate", True),
        (ref("CronJob", "report"), None, "next run", False),
        (ref("Job", "migrate"), None, "job: runs to completion in old mode", False),
        (
            ref("StatefulSet", "db"),
            WorkloadFacts("StatefulSet", "shop", "db", on_delete=True),
            "delete pods",
            True,
        ),
        (
            ref("DaemonSet", "agent"),
            WorkloadFacts("DaemonSet", "shop", "agent", on_delete=True),
            "delete pods",
            True,
        ),
        (
            ref("Deployment", "cart"),
            WorkloadFacts("Deployment", "shop", "cart", paused=True),
            "paused: resume Deployment/cart, then restart",
            True,
        ),
        (ref("ReplicaSet", "bare-rs"), None, "delete pods", True),
        (ref("CloneSet", "kruise"), None, "manual: CloneSet/kruise manages its pods", True),
    ],
)
def test_pod_in_the_wrong_mode_gets_its_owners_remedy(workload, facts, action, needs):
    row = row_for("traditional", workload)
    known = {workload: facts} if facts and workload else {}
    assess(row, NATIVE, known)
    assert (action_text(row.remedy), row.needs_restart, row.desired) == (action, needs, "native")


def test_pod_already_in_the_desired_mode_is_ok():
    row = assess(row_for("native"), NATIVE, {})
    assert (action_text(row.remedy), row.needs_restart) == ("ok", False)


def test_unknown_desired_mode_changes_nothing():
    row = assess(row_for("traditional"), UNKNOWN, {})
    assert (action_text(row.remedy), row.needs_restart, row.desired) == ("unknown", False, None)
    assert row.desired_reason == "no config"


def test_invalid_pod_needs_a_restart_whatever_the_config():
    broken = classify_pod(pods.with_init_restart_policy_stripped(pods.istio("native")))
    broken.workload = ref("Deployment", "cart")
    assert action_text(assess(broken, UNKNOWN, {}).remedy) == "restart Deployment/cart"
    assert broken.needs_restart


def test_pods_outside_the_mesh_and_gateways_are_not_touched():
    for pod in (pods.pod(), pods.istio_gateway()):
        row = assess(classify_pod(pod), NATIVE, {})
        assert (action_text(row.remedy), row.needs_restart, row.desired) == ("-", False, None)


def test_stuck_job_pod_says_so_instead_of_waiting_for_completion():
    row = classify_pod(
        pods.istio(
            "traditional",
            owner=("Job", "migrate"),
            statuses=[pods.terminated("app"), pods.running("istio-proxy")],
        )
    )
    assess(row, NATIVE, {})
    assert action_text(row.remedy).startswith("stuck:")
    assert not row.needs_restart


@pytest.mark.parametrize(
    "workload, facts, step",
    [
        (ref("Deployment", "cart"), None, Step.RESTART),
        (ref("Rollout", "web"), None, Step.RESTART),
        (None, None, Step.RECREATE),
        (
            ref("StatefulSet", "db"),
            WorkloadFacts("StatefulSet", "shop", "db", on_delete=True),
            Step.DELETE_PODS,
        ),
        (ref("ReplicaSet", "bare-rs"), None, Step.DELETE_REPLICASET_PODS),
        (
            ref("Deployment", "cart"),
            WorkloadFacts("Deployment", "shop", "cart", paused=True),
            Step.RESUME,
        ),
    ],
)
def test_the_remedy_names_its_step_and_workload(workload, facts, step):
    row = row_for("traditional", workload)
    known = {workload: facts} if facts and workload else {}
    fix = assess(row, NATIVE, known).remedy
    assert (fix.step, fix.workload) == (step, workload)
