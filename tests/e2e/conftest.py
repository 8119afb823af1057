"""The e2e tier: a real control plane, and `kubectl sidecar` run through kubectl's plugin mechanism.

The control plane is built on first use (Go required) and started once per session. Without Go
the tier is skipped, except under CI=true, where a control plane that can't start fails the run.
"""

import json
import os
import subprocess

import pytest

from tests.harness import build, seed
from tests.harness.controlplane import ControlPlane

IN_CI = os.environ.get("CI", "").lower() == "true"


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/e2e/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.e2e)


def go_missing(error):
    """Skip the test for want of Go, except under CI=true, where the e2e tier must run."""
    if IN_CI:
        pytest.fail(f"{error} (CI=true: this tier must run)", pytrace=False)
    pytest.skip(f"{error}")


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory):
    plane = ControlPlane(tmp_path_factory.mktemp("control-plane"))
    try:
        plane.up()
    except build.GoMissing as error:
        go_missing(error)
    except Exception as error:  # noqa: BLE001 - whatever broke, fail with its own words
        pytest.fail(f"the local control plane did not start: {error}", pytrace=False)
    try:
        yield plane
    finally:
        plane.down()


@pytest.fixture(scope="session")
def admin(control_plane):
    return control_plane.api()


class Kubectl:
    """Runs the kubectl binary built from the pinned release, with the repo's bin/ on PATH."""

    def __init__(self, plane):
        self.env = plane.env()

    def __call__(self, *args, input=None, timeout=900):
        return subprocess.run(
            ["kubectl", *args],
            env=self.env,
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def sidecar(self, *args, **kwargs):
        return self("sidecar", *args, **kwargs)

    def sidecar_json(self, *args):
        done = self.sidecar(*args, "-o", "json")
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)


@pytest.fixture(scope="session")
def kubectl(control_plane):
    return Kubectl(control_plane)


@pytest.fixture
def fresh_namespace(admin, request):
    """A namespace named after the test, labelled for injection, deleted afterwards."""
    name = (
        request.node.name.replace("_", "-")
        .replace("[", "-")
        .replace("]", "")[:50]
        .strip("-")
        .lower()
    )
    seed.namespace(admin, name)
    yield name
    seed.delete_namespace(admin, name, wait=False)


@pytest.fixture(scope="module")
def asm_mesh(admin):
    """ASM owns the mesh config for the module; restored afterwards."""
    seed.remove_istio_mesh(admin)
    seed.asm_mesh(admin, False)
    yield admin
    seed.remove_asm_mesh(admin)


@pytest.fixture(scope="module")
def istio_mesh(admin):
    seed.remove_asm_mesh(admin)
    seed.istio_mesh(admin, "false")
    yield admin
    seed.remove_istio_mesh(admin)


@pytest.fixture(scope="module")
def linkerd_mesh(admin):
    """Linkerd owns the mesh config for the module: linkerd-config with proxy.nativeSidecar=false
    (namespaces opt in and choose with seed.linkerd_namespace); removed afterwards."""
    seed.remove_asm_mesh(admin)
    seed.remove_istio_mesh(admin)
    seed.linkerd_mesh(admin, False)
    yield admin
    seed.remove_linkerd_mesh(admin)


@pytest.fixture(scope="module")
def consul_mesh(admin):
    """Consul's injector Deployment for the module, as the chart installs it: traditional by
    default (-default-enable-consul-dataplane-as-sidecar=false), proxy lifecycle management on.
    Tests change the default with seed.consul_mesh(admin, native=...) and read it back with
    seed.consul_injector_flag(admin); pods opt in with seed.CONSUL_INJECT and choose their own
    mode with seed.CONSUL_AS_SIDECAR. Removed afterwards."""
    seed.remove_asm_mesh(admin)
    seed.remove_istio_mesh(admin)
    seed.consul_mesh(admin, native=False)
    yield admin
    seed.remove_consul_mesh(admin)


@pytest.fixture(scope="module")
def kuma_mesh(admin):
    """Kuma's control plane for the module, as the chart installs Kuma 2.13: kuma-cp without
    KUMA_EXPERIMENTAL_SIDECAR_CONTAINERS (traditional). Tests change it with
    seed.kuma_mesh(admin, native=..., version=...) and read it back with seed.kuma_env(admin);
    namespaces opt in with seed.kuma_namespace. Removed afterwards."""
    seed.remove_asm_mesh(admin)
    seed.remove_istio_mesh(admin)
    seed.kuma_mesh(admin, native=None)
    yield admin
    seed.remove_kuma_mesh(admin)


@pytest.fixture(scope="session")
def helm(control_plane):
    """The real helm (build.HELM_VERSION), built once into the cache, as a function running it
    against the control plane: helm(*args, cwd=...) -> CompletedProcess."""
    try:
        binary = build.build_helm()
    except build.GoMissing as error:
        go_missing(error)
    env = dict(control_plane.env())
    env["PATH"] = os.pathsep.join([str(binary.parent), env["PATH"]])

    def run(*args, cwd=None):
        return subprocess.run(
            ["helm", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300
        )

    run.env = env
    return run
