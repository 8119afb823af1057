"""The real Argo Rollouts controller on a running control plane: its own CRDs (manifests/crds of
the module build.py builds it from) and rollouts-controller, cluster-wide, with the admin's
kubeconfig, logged to the plane's logs dir as argo-rollouts.log. Only the Rollout tests start it
(tests/e2e/test_argo_rollouts.py), so the rest of the tier neither builds nor waits for it."""

import sys

import yaml

from tests.harness import build
from tests.harness.api import resource_path
from tests.harness.bootstrap import CRDS

PROCESS = "argo-rollouts"


def rollouts_path(ns, name=None):
    return resource_path("argoproj.io/v1alpha1", "rollouts", ns, name)


def _established(admin, name):
    conditions = (admin.get(f"{CRDS}/{name}").get("status") or {}).get("conditions") or []
    return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)


def install_crds(admin, log) -> list[str]:
    names = []
    for path in build.argo_rollouts_crds(log):
        crd = yaml.safe_load(path.read_text())
        admin.apply(CRDS, crd)
        names.append(crd["metadata"]["name"])
    for name in names:
        admin.wait_for(f"the {name} CRD to be established", lambda n=name: _established(admin, n))
    return names


def start(plane, log=lambda line: print(line, file=sys.stderr, flush=True)) -> list[str]:
    """Build (once), install the CRDs, start the controller; returns the CRDs' names."""
    from tests.harness.controlplane import free_port

    binary = build.build_argo_rollouts_controller(log)
    crds = install_crds(plane.api(), log)
    plane.processes.start(
        PROCESS,
        [
            str(binary),
            f"--kubeconfig={plane.kubeconfig}",
            "--leader-elect=false",
            f"--metricsPort={free_port()}",
            f"--healthzPort={free_port()}",
            # Its 15 min default resync would leave a restart's later evictions to the
            # controller's own 30 s recheck anyway; shorter keeps a stuck test short too.
            "--rollout-resync=60",
        ],
    )
    return crds


def stop(plane, crds) -> None:
    """Stop the controller and remove its CRDs (and so every Rollout): the tier's other tests
    see the cluster they saw before."""
    if PROCESS in plane.state.get("pids", {}):
        plane.processes.stop(PROCESS)
    admin = plane.api()
    for name in crds:
        admin.delete(f"{CRDS}/{name}")
