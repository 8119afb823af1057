"""Linkerd through kubectl: the mode comes from the pod's annotation (three prefixes), else the
namespace's, else linkerd-config's proxy.nativeSidecar; switch annotates namespaces.

The harness injector follows the release linkerd-config names (tests/harness/injectors/linkerd.py:
2.18, 2.19, 2.20; 2.20 unless a test says otherwise), and each DESIRED asserted here is also
checked against what that injector gives a new pod now (seed.injected_mode), so the test holds
the plugin to the mesh, not to itself.
"""

import pytest

from tests.e2e.reports import items_by_workload
from tests.harness import seed
from tests.harness.api import resource_path
from tests.harness.injectors.linkerd import NATIVE_KEYS, VERSIONS

STABLE, BETA, ALPHA = NATIVE_KEYS
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"


def _generations(admin, ns):
    return {
        d["metadata"]["name"]: d["metadata"]["generation"]
        for kind in ("deployments", "statefulsets")
        for d in admin.items(resource_path("apps/v1", kind, ns))
    }


# --- each release line: runs first and leaves nothing behind, for the -A below ----------------

# The key each release line reads first, on pods and from namespaces (pkg/inject at tags
# version-2.18, version-2.19, version-2.20): what a switch must write there.
RELEASE_KEYS = {"2.18": ALPHA, "2.19": BETA, "2.20": STABLE}


@pytest.fixture(params=sorted(RELEASE_KEYS))
def release(request, linkerd_mesh):
    """linkerd-config of one release line, traditional. Its namespace opts in without a mode;
    `cart` has no annotation of its own, `pinned` pins traditional with the release's key,
    `stale` asks for native with config.linkerd.io, which only 2.20 reads."""
    admin, line = linkerd_mesh, request.param
    ns = "l5d-r" + line.replace(".", "")
    seed.linkerd_mesh(admin, False, version=VERSIONS[line])
    seed.linkerd_namespace(admin, ns)
    seed.deployment(admin, ns, "cart")
    seed.deployment(admin, ns, "pinned", replicas=1, annotations={RELEASE_KEYS[line]: "false"})
    seed.deployment(admin, ns, "stale", replicas=1, annotations={STABLE: "true"})
    seed.wait_for_pods(admin, ns, 4)
    yield line, ns
    seed.delete_namespace(admin, ns)
    seed.linkerd_mesh(admin, False)


def _status(kubectl, ns):
    return {
        name: [(i["mode"], i["desiredMode"], i["action"]) for i in items]
        for name, items in items_by_workload(kubectl.sidecar_json("status", "-n", ns)).items()
    }


def test_status_and_a_switch_follow_the_keys_each_release_reads(kubectl, admin, release):
    line, ns = release
    key = RELEASE_KEYS[line]
    stale = "native" if line == "2.20" else "traditional"
    assert _status(kubectl, ns) == {
        "cart": [("traditional", "traditional", "ok")] * 2,
        "pinned": [("traditional", "traditional", "ok")],
        "stale": [(stale, stale, "ok")],
    }
    for name, mode in (("cart", "traditional"), ("pinned", "traditional"), ("stale", stale)):
        assert seed.injected_mode(admin, ns, name) == mode, name

    done = kubectl.sidecar(
        "switch", "--native", "--mesh", "linkerd", "-n", ns, "--yes", "--timeout", "10m"
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output  # verified: the release injects what the plan said
    assert "Warning" not in output
    namespace_keys = {
        k: v for k, v in seed.namespace_annotations(admin, ns).items() if k in NATIVE_KEYS
    }
    assert namespace_keys == {key: "true"}
    restarted = {
        name
        for name in ("cart", "pinned", "stale")
        if RESTARTED_AT in seed.template_annotations(admin, ns, name)
    }
    assert restarted == ({"cart"} if line == "2.20" else {"cart", "stale"})
    seed.wait_for_pods(admin, ns, 4)
    assert seed.modes(admin, ns, "app in (cart,stale)") == ["native"] * 3
    assert seed.modes(admin, ns, "app=pinned") == ["traditional"]  # its own key wins

    again = kubectl.sidecar("switch", "--native", "--mesh", "linkerd", "-n", ns, "--yes")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "Nothing to change" in again.stdout

    # A per-workload switch pins with the key the release reads.
    back = kubectl.sidecar(
        "switch", "--traditional", "deployment/cart", "-n", ns, "--yes", "--timeout", "10m"
    )
    assert back.returncode == 0, back.stdout + back.stderr
    assert seed.template_annotations(admin, ns, "cart")[key] == "false"
    seed.wait_for_pods(admin, ns, 4)
    assert seed.modes(admin, ns, "app=cart") == ["traditional"] * 2
    assert _status(kubectl, ns)["cart"] == [("traditional", "traditional", "ok")] * 2


# --- switch: runs first, so its -A sees only its own namespaces' Linkerd pods ----------------------


@pytest.fixture(scope="module")
def fleet(linkerd_mesh):
    """linkerd-config traditional. l5d-shop and l5d-data opt in without a mode (traditional);
    in l5d-shop `pinned` says traditional and `early` native on their pod templates. l5d-edge is
    annotated native. The namespaces stay until the module ends (the status tests below use -n)."""
    admin = linkerd_mesh
    seed.linkerd_namespace(admin, "l5d-shop")
    seed.linkerd_namespace(admin, "l5d-data")
    seed.linkerd_namespace(admin, "l5d-edge", native=True)
    seed.deployment(admin, "l5d-shop", "cart")
    seed.deployment(admin, "l5d-shop", "checkout", replicas=1)
    seed.deployment(admin, "l5d-shop", "pinned", replicas=1, annotations={STABLE: "false"})
    seed.deployment(admin, "l5d-shop", "early", replicas=1, annotations={STABLE: "true"})
    seed.statefulset(admin, "l5d-data", "db")
    seed.deployment(admin, "l5d-edge", "gateway-api", replicas=1)
    seed.deployment(admin, "l5d-edge", "gw", replicas=1)
    for ns, count in (("l5d-shop", 5), ("l5d-data", 2), ("l5d-edge", 2)):
        seed.wait_for_pods(admin, ns, count)
    assert seed.modes(admin, "l5d-shop") == ["native"] + ["traditional"] * 4
    assert seed.modes(admin, "l5d-edge") == ["native"] * 2
    yield ("l5d-shop", "l5d-data", "l5d-edge")
    for ns in ("l5d-shop", "l5d-data", "l5d-edge"):
        seed.delete_namespace(admin, ns, wait=False)


def test_switch_native_annotates_namespaces_restarts_the_old_mode_only_and_reruns_as_a_no_op(
    kubectl, admin, fleet
):
    edge_generations = _generations(admin, "l5d-edge")
    done = kubectl.sidecar(
        "switch", "--native", "--mesh", "linkerd", "-A", "--yes", "--timeout", "10m"
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    # The namespaces that injected traditional proxies now say native; l5d-edge already did.
    for ns in ("l5d-shop", "l5d-data", "l5d-edge"):
        assert seed.namespace_annotations(admin, ns)[STABLE] == "true", ns
    assert "namespace/l5d-edge" not in output
    # Exactly the workloads with traditional pods that the namespace decides were restarted.
    restarted = {
        (ns, name)
        for ns in fleet
        for kind in ("deployments", "statefulsets")
        for name in (d["metadata"]["name"] for d in admin.items(resource_path("apps/v1", kind, ns)))
        if RESTARTED_AT in seed.template_annotations(admin, ns, name, kind)
    }
    assert restarted == {("l5d-shop", "cart"), ("l5d-shop", "checkout"), ("l5d-data", "db")}
    assert _generations(admin, "l5d-edge") == edge_generations
    for ns, count in (("l5d-shop", 5), ("l5d-data", 2)):
        seed.wait_for_pods(admin, ns, count)
    assert seed.modes(admin, "l5d-shop", "app in (cart,checkout,early)") == ["native"] * 4
    assert seed.modes(admin, "l5d-shop", "app=pinned") == ["traditional"]  # its own annotation wins
    assert seed.modes(admin, "l5d-data") == ["native"] * 2

    generations = {ns: _generations(admin, ns) for ns in fleet}
    again = kubectl.sidecar("switch", "--native", "--mesh", "linkerd", "-A", "--yes")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "Nothing to change" in again.stdout
    assert {ns: _generations(admin, ns) for ns in fleet} == generations


def test_per_workload_switch_sets_the_override_on_the_template_only(kubectl, admin, fleet):
    done = kubectl.sidecar(
        "switch", "--traditional", "deployment/gw", "-n", "l5d-edge", "--yes", "--timeout", "10m"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert seed.template_annotations(admin, "l5d-edge", "gw")[STABLE] == "false"
    assert (
        seed.namespace_annotations(admin, "l5d-edge")[STABLE] == "true"
    )  # the namespace keeps its mode
    seed.wait_for_pods(admin, "l5d-edge", 2)
    assert seed.modes(admin, "l5d-edge", "app=gw") == ["traditional"]
    assert seed.modes(admin, "l5d-edge", "app=gateway-api") == ["native"]
    [item] = kubectl.sidecar_json("status", "-n", "l5d-edge", "-l", "app=gw")["items"]
    assert (item["mode"], item["desiredMode"], item["action"]) == (
        "traditional",
        "traditional",
        "ok",
    )


# --- status -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def injected(linkerd_mesh):
    """l5d-drift: injected while linkerd-config said native, which now says traditional.
    l5d-default: no mode annotation, so linkerd-config decides; one Deployment per annotation
    prefix asks for native on its pod template. l5d-ns-native: the namespace asks for native.
    l5d-optin: no namespace opt-in; one Deployment opts in on its pod template."""
    admin = linkerd_mesh
    seed.linkerd_mesh(admin, True)
    seed.linkerd_namespace(admin, "l5d-drift")
    seed.deployment(admin, "l5d-drift", "web")
    seed.wait_for_pods(admin, "l5d-drift", 2)
    seed.linkerd_mesh(admin, False)
    seed.linkerd_namespace(admin, "l5d-default")
    seed.deployment(admin, "l5d-default", "api", replicas=1)
    for name, key in (("stable", STABLE), ("beta", BETA), ("alpha", ALPHA)):
        seed.deployment(admin, "l5d-default", name, replicas=1, annotations={key: "true"})
    seed.linkerd_namespace(admin, "l5d-ns-native", native=True)
    seed.deployment(admin, "l5d-ns-native", "web")
    seed.linkerd_namespace(admin, "l5d-optin", inject=None)
    seed.deployment(
        admin, "l5d-optin", "solo", replicas=1, annotations={"linkerd.io/inject": "enabled"}
    )
    seed.deployment(admin, "l5d-optin", "plain", replicas=1)
    for ns, count in (("l5d-default", 4), ("l5d-ns-native", 2), ("l5d-optin", 2)):
        seed.wait_for_pods(admin, ns, count)
    namespaces = ("l5d-drift", "l5d-default", "l5d-ns-native", "l5d-optin")
    yield admin
    for ns in namespaces:
        seed.delete_namespace(admin, ns, wait=False)


def test_linkerd_config_default_decides_without_annotations(kubectl, injected):
    report = kubectl.sidecar_json("status", "-n", "l5d-default", "-l", "app=api")
    assert report["mesh"]["name"] == "linkerd"
    assert report["mesh"]["source"] == "linkerd-config proxy.nativeSidecar=false"
    [item] = report["items"]
    assert (item["proxy"], item["mode"], item["desiredMode"], item["action"]) == (
        "linkerd-proxy",
        "traditional",
        "traditional",
        "ok",
    )
    assert item["desiredModeSource"] == "linkerd-config proxy.nativeSidecar=false"
    assert seed.injected_mode(injected, "l5d-default", "api") == "traditional"


def test_a_changed_linkerd_config_default_leaves_pods_to_restart(kubectl, injected):
    items = kubectl.sidecar_json("status", "-n", "l5d-drift")["items"]
    assert [(i["mode"], i["desiredMode"], i["needsRestart"], i["action"]) for i in items] == [
        ("native", "traditional", True, "restart Deployment/web")
    ] * 2
    assert seed.injected_mode(injected, "l5d-drift", "web") == "traditional"


@pytest.mark.parametrize("workload,key", [("stable", STABLE), ("beta", BETA), ("alpha", ALPHA)])
def test_each_annotation_prefix_on_a_pod_template_is_honoured(kubectl, injected, workload, key):
    [item] = kubectl.sidecar_json("status", "-n", "l5d-default", "-l", f"app={workload}")["items"]
    assert (item["mode"], item["desiredMode"], item["action"]) == ("native", "native", "ok")
    assert item["desiredModeSource"] == f"pod annotation {key}"
    assert seed.injected_mode(injected, "l5d-default", workload) == "native"


def test_namespace_annotation_decides_for_its_pods(kubectl, injected):
    items = kubectl.sidecar_json("status", "-n", "l5d-ns-native")["items"]
    assert [(i["proxy"], i["mode"], i["desiredMode"], i["action"]) for i in items] == [
        ("linkerd-proxy", "native", "native", "ok")
    ] * 2
    assert seed.injected_mode(injected, "l5d-ns-native", "web") == "native"


def test_pod_opt_in_without_a_namespace_opt_in(kubectl, injected):
    grouped = items_by_workload(kubectl.sidecar_json("status", "-n", "l5d-optin"))
    [solo], [plain] = grouped["solo"], grouped["plain"]
    assert (solo["proxy"], solo["mode"], solo["desiredMode"]) == (
        "linkerd-proxy",
        "traditional",
        "traditional",
    )
    assert (plain["proxy"], plain["mode"]) == (None, "none")


def test_summary_table_counts_linkerd_pods(kubectl, injected):
    done = kubectl.sidecar("status", "-A", "--summary")
    assert done.returncode == 0, done.stderr
    rows = {
        line.split()[0]: line.split()[1:] for line in done.stdout.splitlines()[1:] if line.strip()
    }
    # NATIVE TRADITIONAL INVALID GATEWAY AMBIENT NONE NEEDS-ACTION
    assert rows["l5d-default"] == ["3", "1", "0", "0", "0", "0", "0"]
    assert rows["l5d-drift"] == ["2", "0", "0", "0", "0", "0", "2"]
    assert rows["l5d-optin"] == ["0", "1", "0", "0", "0", "1", "0"]


# --- where the plugin and Linkerd once disagreed ----------------------------------------------


@pytest.fixture(scope="module")
def disagreements(linkerd_mesh):
    """l5d-flip: annotated traditional when its pods were injected, native since.
    l5d-beta-ns: annotated native with the deprecated beta prefix, on the namespace."""
    admin = linkerd_mesh
    seed.linkerd_namespace(admin, "l5d-flip", native=False)
    seed.linkerd_namespace(admin, "l5d-beta-ns", native=True, key=BETA)
    seed.deployment(admin, "l5d-flip", "web", replicas=1)
    seed.deployment(admin, "l5d-beta-ns", "web", replicas=1)
    seed.wait_for_pods(admin, "l5d-flip", 1)
    seed.wait_for_pods(admin, "l5d-beta-ns", 1)
    seed.linkerd_namespace(admin, "l5d-flip", native=True)
    yield admin
    for ns in ("l5d-flip", "l5d-beta-ns"):
        seed.delete_namespace(admin, ns, wait=False)


def test_desired_follows_a_changed_namespace_annotation(kubectl, disagreements):
    """Linkerd copies the namespace's config.linkerd.io/proxy-enable-native-sidecar onto every
    pod it injects (pkg/inject AppendNamespaceAnnotations): that copy is not the pod's own
    override, so after the namespace changes DESIRED follows it."""
    assert seed.injected_mode(disagreements, "l5d-flip", "web") == "native"
    [item] = kubectl.sidecar_json("status", "-n", "l5d-flip")["items"]
    assert (item["mode"], item["desiredMode"], item["action"]) == (
        "traditional",
        "native",
        "restart Deployment/web",
    )


def test_a_beta_annotation_on_a_namespace_does_nothing(kubectl, disagreements):
    """Since Linkerd 2.20 only config.linkerd.io/ and config.alpha.linkerd.io/
    proxy-enable-native-sidecar are copied from a namespace (pkg/inject ProxyAnnotations,
    ProxyAlphaConfigAnnotations): the beta key counts on pods only."""
    assert seed.injected_mode(disagreements, "l5d-beta-ns", "web") == "traditional"
    [item] = kubectl.sidecar_json("status", "-n", "l5d-beta-ns")["items"]
    assert (item["mode"], item["desiredMode"], item["action"]) == (
        "traditional",
        "traditional",
        "ok",
    )


def test_switching_to_native_does_not_warn_about_linkerds_own_hook(kubectl, injected):
    """Linkerd's own postStart hook (linkerd-await, injected with proxy.await, the default) is
    not a user's proxy lifecycle setting: Linkerd itself drops it in native mode."""
    done = kubectl.sidecar(
        "switch", "--native", "--mesh", "linkerd", "-n", "l5d-default", "--dry-run"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "restart" in done.stdout.lower()  # the plan has the traditional Deployment in it
    assert "startup/shutdown settings" not in done.stdout + done.stderr


# --- who owns what a switch writes (issue 19) -------------------------------------------------


def test_a_flux_namespace_is_refused_and_linkerd_configs_owner_named(kubectl, injected):
    """linkerd-config from a Helm release: status names it. A namespace Flux's
    kustomize-controller applies: a switch that would annotate it is refused before any write,
    naming the annotation to set in Git."""
    admin = injected
    admin.patch(
        f"{seed.LINKERD_CONFIG}/linkerd-config",
        {
            "metadata": {
                "labels": {"app.kubernetes.io/managed-by": "Helm"},
                "annotations": {
                    "meta.helm.sh/release-name": "linkerd-control-plane",
                    "meta.helm.sh/release-namespace": "linkerd",
                },
            }
        },
    )
    seed.namespace(
        admin,
        "l5d-default",
        injection=False,
        labels={
            "kustomize.toolkit.fluxcd.io/name": "apps",
            "kustomize.toolkit.fluxcd.io/namespace": "flux-system",
        },
    )
    try:
        report = kubectl.sidecar_json("status", "-n", "l5d-default")
        assert report["mesh"]["owner"] == "Helm release linkerd/linkerd-control-plane"
        before = seed.namespace_annotations(admin, "l5d-default")
        generations = _generations(admin, "l5d-default")
        done = kubectl.sidecar("switch", "--native", "--mesh", "linkerd", "-n", "l5d-default")
        assert done.returncode == 1, done.stdout + done.stderr
        assert (
            "Namespace l5d-default is managed by Flux Kustomization flux-system/apps" in done.stderr
        )
        assert f"annotation {STABLE} true in the manifest" in done.stderr
        assert seed.namespace_annotations(admin, "l5d-default") == before
        assert _generations(admin, "l5d-default") == generations
    finally:
        seed.namespace(
            admin,
            "l5d-default",
            injection=False,
            labels={
                "kustomize.toolkit.fluxcd.io/name": None,
                "kustomize.toolkit.fluxcd.io/namespace": None,
            },
        )
        seed.linkerd_mesh(admin, False)
