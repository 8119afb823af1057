"""Istio's own injector (tests/harness/istio_injector: istio.io/istio/pkg/kube/inject fed by the
istiod chart in the module) instead of the harness's model of it: what it injects for each of
istiod's settings, and what `kubectl sidecar status` makes of those pods.

Istio's injector is the session control plane's default; with KUBECTL_SIDECAR_ISTIO_INJECTOR=harness
the module starts its own with ControlPlane(istio_injector="istio"). The injector is built on
first use (5-12 minutes cold on 2 cores, cached afterwards).
"""

import pytest

from tests.e2e.conftest import IN_CI, Kubectl, go_missing
from tests.harness import build, seed
from tests.harness.controlplane import ControlPlane

NATIVE = "sidecar.istio.io/nativeSidecar"
TEMPLATES = "inject.istio.io/templates"


@pytest.fixture(scope="module")
def plane(request, tmp_path_factory):
    """The session's control plane when Istio's injector is its default; otherwise (with
    KUBECTL_SIDECAR_ISTIO_INJECTOR=harness) one of the module's own with Istio's injector."""
    session = request.getfixturevalue("control_plane")
    if session.istio_injector == "istio":
        admin = session.api()
        seed.remove_asm_mesh(admin)
        yield session
        seed.remove_istio_mesh(admin)
        return
    if not build.go_available():
        go_missing("Go is not installed: the e2e tier builds its control plane with it")
    plane = ControlPlane(
        tmp_path_factory.mktemp("istio-injector"), audit=False, istio_injector="istio"
    )
    try:
        plane.up()
    except build.GoMissing as error:
        go_missing(error)
    except Exception as error:  # noqa: BLE001 - whatever broke, fail with its own words
        plane.down()
        message = f"the control plane with Istio's injector did not start: {error}"
        pytest.fail(message + (" (CI=true)" if IN_CI else ""), pytrace=False)
    try:
        yield plane
    finally:
        plane.down()


@pytest.fixture(scope="module")
def admin(plane):
    return plane.api()


@pytest.fixture(scope="module")
def kubectl(plane):
    return Kubectl(plane)


@pytest.fixture
def namespace(admin, request):
    name = request.node.name.replace("_", "-")[:50].strip("-").lower()
    seed.namespace(admin, name)
    yield name
    seed.delete_namespace(admin, name, wait=False)


def _rows(kubectl, ns):
    report = kubectl.sidecar_json("status", "-n", ns)
    return {
        (item["workload"]["name"], item["mode"], item["desiredMode"], item["action"])
        for item in report["items"]
    }


def _deploy(admin, ns, name, annotations=None):
    seed.deployment(admin, ns, name, replicas=2, annotations=annotations)
    seed.wait_for_pods(admin, ns, 2, selector=f"app={name}")
    return seed.modes(admin, ns, f"app={name}")


def test_istiod_false_injects_traditional(kubectl, admin, namespace):
    seed.istio_mesh(admin, "false")
    assert _deploy(admin, namespace, "cart") == ["traditional"] * 2
    assert _rows(kubectl, namespace) == {("cart", "traditional", "traditional", "ok")}


def test_istiod_true_injects_native(kubectl, admin, namespace):
    seed.istio_mesh(admin, "true")
    assert _deploy(admin, namespace, "cart") == ["native"] * 2
    assert _rows(kubectl, namespace) == {("cart", "native", "native", "ok")}


def test_istiod_auto_asks_the_nodes(kubectl, admin, namespace):
    # Istio's DetectNativeSidecar, over its node informer: every kubelet here is 1.35 or newer.
    seed.istio_mesh(admin, "auto")
    assert _deploy(admin, namespace, "cart") == ["native"] * 2
    assert _rows(kubectl, namespace) == {("cart", "native", "native", "ok")}


def test_asm_mesh_config_outranks_istiod(kubectl, admin, namespace):
    seed.istio_mesh(admin, "false")
    seed.asm_mesh(admin, True)
    try:
        assert _deploy(admin, namespace, "cart") == ["native"] * 2
        assert _rows(kubectl, namespace) == {("cart", "native", "native", "ok")}
    finally:
        seed.remove_asm_mesh(admin)


def test_pod_annotation_overrides_istiod(kubectl, admin, namespace):
    seed.istio_mesh(admin, "false")
    assert _deploy(admin, namespace, "pinned-native", {NATIVE: "true"}) == ["native"] * 2
    seed.istio_mesh(admin, "true")
    assert _deploy(admin, namespace, "pinned-traditional", {NATIVE: "false"}) == ["traditional"] * 2
    assert _rows(kubectl, namespace) == {
        ("pinned-native", "native", "native", "ok"),
        ("pinned-traditional", "traditional", "traditional", "ok"),
    }


def test_grpc_agent_template_stays_traditional_under_native(kubectl, admin, namespace):
    seed.istio_mesh(admin, "true")
    # The chart's files/grpc-agent.yaml puts istio-proxy in `containers` and has no native form.
    assert _deploy(admin, namespace, "grpc", {TEMPLATES: "grpc-agent"}) == ["traditional"] * 2
    assert seed.injected_mode(admin, namespace, "grpc") == "traditional"
    # Templates other than `sidecar` have no native form: DESIRED follows the template, not
    # istiod's setting, so nothing asks for a restart that could never switch these pods.
    assert _rows(kubectl, namespace) == {("grpc", "traditional", "traditional", "ok")}
    switch = kubectl.sidecar("switch", "--native", "-n", namespace, "--dry-run")
    assert switch.returncode == 0, switch.stdout + switch.stderr
    assert "Nothing to change" in switch.stdout
