"""A Helm release owns istiod: installed with the real helm (build.HELM_VERSION) from a chart
of our own (tests/charts/istiod), switched, then upgraded with the very command the switch
printed, which must keep the change (issue 19)."""

import json
import re
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

from kubectl_sidecar import owners
from kubectl_sidecar.meshes import istio
from tests.harness import build, seed
from tests.harness.api import resource_path

CHARTS = Path(__file__).resolve().parents[1] / "charts"
ISTIOD = resource_path("apps/v1", "deployments", "istio-system", "istiod")


def _env(admin):
    container = admin.get(ISTIOD)["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value") for e in container["env"]}


@pytest.fixture
def helm_istiod(istio_mesh, helm, fresh_namespace):
    """istiod from `helm install istiod tests/charts/istiod -n istio-system` (traditional), and
    one workload in its mesh; the release uninstalled and the seeded istiod back afterwards."""
    admin = istio_mesh
    seed.remove_istio_mesh(admin)
    admin.wait_for("the seeded istiod to go", lambda: admin.get(ISTIOD, missing_ok=True) is None)
    done = helm("install", "istiod", "istiod", "-n", "istio-system", cwd=CHARTS)
    assert done.returncode == 0, done.stdout + done.stderr
    seed.deployment(admin, fresh_namespace, "cart", replicas=1)
    seed.wait_for_pods(admin, fresh_namespace, 1)
    yield fresh_namespace
    helm("uninstall", "istiod", "-n", "istio-system", "--wait")
    admin.wait_for("helm's istiod to go", lambda: admin.get(ISTIOD, missing_ok=True) is None)
    seed.istio_mesh(admin, "false")


def test_the_printed_helm_upgrade_keeps_the_switch(kubectl, admin, helm, helm_istiod):
    metadata = admin.get(ISTIOD)["metadata"]
    # Helm's own markers, not the chart's: the chart sets no managed-by label.
    assert metadata["labels"]["app.kubernetes.io/managed-by"] == "Helm"
    assert metadata["annotations"]["meta.helm.sh/release-name"] == "istiod"

    status = kubectl.sidecar("status", "-n", helm_istiod)
    assert "owned by Helm release istio-system/istiod" in status.stdout, status.stdout

    done = kubectl.sidecar("switch", "--native", "-n", helm_istiod, "--yes", "--no-restart")
    assert done.returncode == 0, done.stdout + done.stderr
    assert _env(admin)["ENABLE_NATIVE_SIDECARS"] == "true"
    [command] = re.findall(r"run: (helm upgrade .*)$", done.stdout, re.MULTILINE)
    assert command == (
        "helm upgrade istiod istiod --version 1.26.2 -n istio-system --reuse-values "
        "--set pilot.env.ENABLE_NATIVE_SIDECARS=true"
    )

    # The user runs it where the chart is (`istiod` resolves to the chart's directory here as
    # `istio/istiod` would to the repository's).
    upgraded = subprocess.run(
        shlex.split(command), env=helm.env, cwd=CHARTS, capture_output=True, text=True, timeout=300
    )
    assert upgraded.returncode == 0, upgraded.stdout + upgraded.stderr
    assert _env(admin)["ENABLE_NATIVE_SIDECARS"] == "true"
    assert _env(admin)["PILOT_TRACE_SAMPLING"] == "1"  # --reuse-values kept the rest
    values = json.loads(helm("get", "values", "istiod", "-n", "istio-system", "-o", "json").stdout)
    assert values["pilot"]["env"]["ENABLE_NATIVE_SIDECARS"] is True  # the release holds it now

    # ...and a rerun finds istiod as the switch left it: no config change left to make.
    again = kubectl.sidecar("switch", "--native", "-n", helm_istiod, "--dry-run")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "Mesh config changes" not in again.stdout


def test_istios_own_istiod_chart_renders_the_value_and_the_markers_we_read(helm):
    """The real istiod chart (Istio's sources from the Go module proxy): HELM_VALUE is the key
    it renders into istiod's ENABLE_NATIVE_SIDECARS, and the istioctl labels it sets itself do
    not make a Helm-installed istiod istioctl's."""
    try:
        chart = build.istiod_chart()
    except build.GoMissing as error:
        pytest.skip(str(error))
    done = helm(
        "template",
        "istiod",
        str(chart),
        "-n",
        "istio-system",
        "--set",
        f"{istio.HELM_VALUE}=true",
    )
    assert done.returncode == 0, done.stderr
    [istiod] = [
        doc
        for doc in yaml.safe_load_all(done.stdout)
        if doc and doc["kind"] == "Deployment" and doc["metadata"]["name"] == "istiod"
    ]
    [discovery] = [
        c for c in istiod["spec"]["template"]["spec"]["containers"] if c["name"] == "discovery"
    ]
    assert {"name": "ENABLE_NATIVE_SIDECARS", "value": "true"} in discovery["env"]
    labels = istiod["metadata"]["labels"]
    assert labels["install.operator.istio.io/owning-resource"] == "unknown"
    assert owners.detect(istiod["metadata"]) is None  # as `helm template | kubectl apply` leaves it
    installed = dict(
        istiod["metadata"],
        annotations={
            "meta.helm.sh/release-name": "istiod",
            "meta.helm.sh/release-namespace": "istio-system",
        },
    )
    assert owners.detect(installed).kind is owners.Kind.HELM
