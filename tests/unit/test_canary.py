"""The canary (canary.py): what a dry-run create's answer means (pure), and a switch that asks
it before any write, against a FakeCluster whose admission chain is Istio's injector."""

import json

import pytest

from kubectl_sidecar import canary
from kubectl_sidecar.meshes.base import Mode
from kubectl_sidecar.plan import Override, Plan, Restart
from kubectl_sidecar.refs import WorkloadRef
from tests.unit import pods
from tests.unit.fake_cluster import FakeCluster, istio_admission
from tests.unit.test_cli_switch import cluster_objects, controllers

CART = WorkloadRef("Deployment", "shop", "cart")
KEY = "sidecar.istio.io/nativeSidecar"


def test_a_pod_from_a_template_keeps_what_admission_looks_at():
    template = {
        "metadata": {"labels": {"app": "cart"}, "annotations": {"team": "a"}},
        "spec": {"serviceAccountName": "cart", "containers": [{"name": "app"}]},
    }
    pod = canary.pod_from_template(CART, template, KEY, "true")
    assert pod["metadata"] == {
        "generateName": "cart-canary-",
        "namespace": "shop",
        "labels": {"app": "cart"},
        "annotations": {"team": "a", KEY: "true"},
    }
    assert pod["spec"]["serviceAccountName"] == "cart"
    assert template["metadata"]["annotations"] == {"team": "a"}  # the template is not changed


def test_the_answer_is_the_proxys_mode():
    assert canary.judge(pods.istio("native"), Mode.NATIVE) == canary.Answer(Mode.NATIVE)
    traditional = canary.judge(pods.istio("traditional"), Mode.NATIVE)
    assert traditional.mode is Mode.TRADITIONAL
    assert traditional.why == "the injector gives it a traditional proxy, not native"
    assert canary.judge(pods.istio("traditional"), None).why is None


def test_a_stripped_restart_policy_or_no_proxy_cant_be_switched():
    stripped = canary.judge(pods.with_init_restart_policy_stripped(pods.istio("native")), None)
    assert stripped.mode is Mode.INVALID
    assert "without restartPolicy: Always" in stripped.why
    bare = canary.judge({"spec": {"containers": [{"name": "app"}]}}, Mode.NATIVE)
    assert bare.mode is Mode.NONE and "no injector added one" in bare.why


def test_a_refusal_by_rbac_skips_the_canary_any_other_refusal_is_the_pods():
    rbac = canary.judge_refusal(
        403, 'pods is forbidden: User "bob" cannot create resource "pods" in API group ""'
    )
    assert rbac.why is None and "cannot create resource" in rbac.skipped
    security = canary.judge_refusal(
        403, 'pods "x" is forbidden: violates PodSecurity "restricted:latest"'
    )
    assert security.skipped is None and "violates PodSecurity" in security.why


def test_a_template_that_pins_a_mode_keeps_it_unless_the_run_writes_its_own():
    probe = canary.Probe(CART, "istio", Mode.NATIVE, KEY, "true")
    assert canary.wanted_mode(probe, {KEY: "false"}) == (Mode.TRADITIONAL, False)
    assert canary.wanted_mode(probe, {}) == (Mode.NATIVE, True)
    # Linkerd 2.18 reads only the alpha key: a template's config.linkerd.io key is not the
    # one its namespace's new setting stands in for (the injector decides what it reads).
    alpha = "config.alpha.linkerd.io/proxy-enable-native-sidecar"
    linkerd = canary.Probe(CART, "linkerd", Mode.NATIVE, alpha, "true")
    stable = {"config.linkerd.io/proxy-enable-native-sidecar": "true"}
    assert canary.wanted_mode(linkerd, stable) == (Mode.NATIVE, True)
    writes = canary.Probe(CART, None, Mode.NATIVE, KEY, "true", writes=True)
    assert canary.wanted_mode(writes, {KEY: "false"}) == (Mode.NATIVE, True)


def test_probes_ask_for_the_target_through_the_meshs_per_pod_annotation():
    plan = Plan(
        target=Mode.NATIVE,
        restarts=[
            Restart("Deployment", "shop", "cart", 2, "istio"),
            Restart("Deployment", "shop", "db", 1, "kuma"),
        ],
        overrides=[Override("Deployment", "shop", "web", KEY, "true")],
    )
    assert canary.probes_for(plan) == [
        canary.Probe(
            WorkloadRef("Deployment", "shop", "web"), None, Mode.NATIVE, KEY, "true", True
        ),
        canary.Probe(CART, "istio", Mode.NATIVE, KEY, "true"),
        # Kuma has no per-pod annotation: only admitted, with a proxy that can start.
        canary.Probe(WorkloadRef("Deployment", "shop", "db"), "kuma", None, None, None),
    ]


def test_set_aside_pins_or_leaves_what_cant_be_switched():
    def plan():
        return Plan(
            target=Mode.NATIVE,
            restarts=[
                Restart("Deployment", "shop", "cart", 2, "istio"),
                Restart("Deployment", "shop", "web", 1, "istio"),
            ],
        )

    pinned = plan()
    pinned.set_aside_unswitchable({CART: "stripped"}, pin=True)
    assert pinned.pins == [Override("Deployment", "shop", "cart", KEY, "false")]
    assert [r.name for r in pinned.restarts] == ["web"]
    left = plan()
    left.set_aside_unswitchable({CART: "stripped"}, pin=False)
    assert left.pins == [] and [r.name for r in left.restarts] == ["web"]
    assert [(m.what, m.todo) for m in left.manual] == [
        ("Deployment/cart", "can't be switched: stripped; left as it is")
    ]


# --- a switch through the CLI ---------------------------------------------------------------


def _asm_native(cluster):
    return cluster.objects["ASMMeshConfig"][0]["spec"]["enableNativeSidecar"]


@pytest.fixture
def stripped(connect_to, monkeypatch):
    """ASM set to traditional, cart and web traditional; a policy webhook strips restartPolicy
    from cart's pods."""
    monkeypatch.delenv("KUBECTL_SIDECAR_NO_CANARY")
    objects = cluster_objects(native=False, cart_mode="traditional")
    for workload in objects["Deployment"]:
        workload["spec"]["template"]["metadata"]["labels"] = {"app": workload["metadata"]["name"]}
    cluster = FakeCluster(
        objects,
        namespace="shop",
        on_patch=controllers(),
        admission=istio_admission(_asm_native, strip=("cart",)),
    )
    connect_to(cluster)
    return cluster


def test_a_workload_that_cant_be_switched_stops_the_switch_before_any_write(stripped, run):
    result = run("switch", "--native", "--yes")
    assert result.exit_code == 1, result.output
    assert "1 can't be switched" in result.stdout
    assert "Deployment/cart" in result.stdout and "restartPolicy: Always" in result.stdout
    assert "Nothing was changed: 1 workload(s) can't be switched" in result.stdout
    assert "--pin-failed" in result.stdout and "--keep-going" in result.stdout
    assert stripped.patches == [] and stripped.lease_writes == []
    # One dry-run create per workload, each asking for native.
    assert sorted(pod["metadata"]["annotations"][KEY] for _, pod in stripped.dry_run_creates) == [
        "true",
        "true",
    ]
    assert ("create", "pods", "shop") in {
        (r["verb"], r["resource"], r.get("namespace")) for r in stripped.reviews
    }


def test_a_dry_run_predicts_the_same(stripped, run):
    result = run("switch", "--native", "--dry-run", "-o", "json")
    assert result.exit_code == 1, result.output
    doc = json.loads(result.stdout)["plan"]["canary"]
    assert doc["source"] == "admission (dry-run create)"
    assert doc["cantSwitch"][0]["workload"] == "Deployment/cart -n shop"
    assert doc["handling"] == "refuse" and doc["dryRunCreates"] == 2
    assert stripped.patches == []


def test_pin_failed_pins_it_first_and_switches_the_rest(stripped, run):
    result = run("switch", "--native", "--yes", "--pin-failed")
    assert result.exit_code == 0, result.output
    writes = [(kind, name, body) for kind, _, name, body, _, _ in stripped.patches]
    assert writes[0][:2] == ("Deployment", "cart")
    assert writes[0][2]["spec"]["template"]["metadata"]["annotations"] == {KEY: "false"}
    assert [(kind, name) for kind, name, _ in writes[1:]] == [
        ("ASMMeshConfig", "default"),
        ("Deployment", "web"),
    ]
    assert "pinned to the old mode first (--pin-failed)" in result.stdout
    assert "Verify: every pod that a restart could switch is in its target mode." in result.stdout


def test_keep_going_switches_the_rest_and_leaves_it(stripped, run):
    result = run("switch", "--native", "--yes", "--keep-going")
    assert result.exit_code == 1, result.output  # cart is left in the old mode: not verified
    assert [(kind, name) for kind, _, name, _, _, _ in stripped.patches] == [
        ("ASMMeshConfig", "default"),
        ("Deployment", "web"),
    ]
    assert "left as they are (--keep-going)" in result.stdout


@pytest.mark.parametrize("leave", [["--keep-going"], ["--keep-going", "--pin-failed"]])
def test_when_no_workload_can_be_switched_the_mesh_config_is_left_alone(stripped, run, leave):
    stripped.admission = istio_admission(_asm_native, strip=("cart", "web"))
    result = run("switch", "--native", "--yes", *leave)
    if "--pin-failed" in leave:
        # Both pinned to the old mode first: new workloads get the new one, as asked.
        assert result.exit_code == 0, result.output
        assert [kind for kind, *_ in stripped.patches][-1] == "ASMMeshConfig"
        return
    assert result.exit_code == 1, result.output
    assert "none of the workloads to switch can be switched (2, above)" in result.stdout
    assert "the mesh config is left as it is" in result.stdout
    assert stripped.patches == [] and stripped.lease_writes == []
    assert _asm_native(stripped) is False


def test_restart_says_restart_not_switch_when_its_canary_refuses(stripped, run):
    stripped.objects["ASMMeshConfig"][0]["spec"]["enableNativeSidecar"] = True
    result = run("restart", "--yes")
    assert result.exit_code == 1, result.output
    assert "1 workload(s) can't be restarted into their configured mode" in result.stdout
    assert "To restart the rest and leave them, add --keep-going." in result.stdout
    assert stripped.patches == []


def test_without_the_right_to_create_pods_the_canary_is_skipped(stripped, run):
    stripped.refuse_writes.add("Pod")
    result = run("switch", "--native", "--yes", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "Warning: canary skipped (may not create pods in namespace shop" in result.stderr
    assert stripped.dry_run_creates == []


def test_identical_templates_are_tried_once(stripped, run):
    for workload in stripped.objects["Deployment"]:
        workload["spec"]["template"]["metadata"]["labels"] = {"app": "same"}
    stripped.admission = istio_admission(_asm_native)
    result = run("switch", "--native", "--dry-run")
    assert result.exit_code == 0, result.output
    assert (
        "Canary: 2 workload(s) tried through admission (1 dry-run pod create(s), 3 request(s)): "
        "every pod admitted in native mode." in result.stdout
    )
    assert len(stripped.dry_run_creates) == 1


def test_a_mesh_that_still_injects_the_old_mode_gets_its_config_back_and_nothing_restarts(
    stripped, run
):
    # The injector honours the per-pod annotation but not the mesh's new setting (a config
    # push that never arrives): the first canary passes, the one after the change never does.
    stripped.admission = istio_admission(False)
    result = run("switch", "--native", "--yes", "--timeout", "3s")
    assert result.exit_code == 1, result.output
    writes = [(kind, body) for kind, _, _, body, _, _ in stripped.patches]
    assert writes == [
        ("ASMMeshConfig", {"spec": {"enableNativeSidecar": True}}),
        ("ASMMeshConfig", {"spec": {"enableNativeSidecar": False}}),
    ]
    assert _asm_native(stripped) is False
    assert "the mesh still does not inject native sidecars after its config change" in (
        result.stdout
    )
    assert "the config was put back and nothing was restarted" in result.stdout
    assert "put back (true -> false)" in result.stderr


def test_settle_probes_are_one_per_namespace_and_revision():
    plan = Plan(
        target=Mode.NATIVE,
        config_changes=["a change"],
        restarts=[
            Restart("Deployment", "shop", "cart", 1, "istio", revision="1-24"),
            Restart("Deployment", "shop", "web", 1, "istio", revision="1-24"),
            Restart("Deployment", "shop", "db", 1, "istio", revision="1-25"),
            Restart("Deployment", "tools", "debug", 1, "istio", revision="1-24"),
        ],
    )
    assert [p.ref.name for p in canary.settle_probes(plan)] == ["cart", "db", "debug"]
    assert [p.ref.name for p in canary.settle_probes(plan, skip=["tools"])] == ["cart", "db"]
    assert all(p.key is None and p.want is Mode.NATIVE for p in canary.settle_probes(plan))


def test_undo_puts_back_what_the_change_replaced_at_the_version_read():
    from kubectl_sidecar.meshes import asm, istio, linkerd

    unset = istio.IstiodChange(
        "istio", "Deployment", "istio-system", "istiod", "unset (traditional)", "true", None, "d"
    )

    def read_at(version):
        return {"metadata": {"resourceVersion": version}}

    entry = unset.undo(read_at("42")).body["spec"]["template"]["spec"]["containers"][0]["env"][0]
    assert entry == {"name": "ENABLE_NATIVE_SIDECARS", "$patch": "delete"}
    assert unset.undo(read_at("42")).body["metadata"] == {"resourceVersion": "42"}
    auto = istio.IstiodChange(
        "istio", "Deployment", "istio-system", "istiod", "auto (traditional)", "true", None, "d"
    )
    assert auto.undo(read_at("7")).body["spec"]["template"]["spec"]["containers"][0]["env"] == [
        {"name": "ENABLE_NATIVE_SIDECARS", "value": "auto"}
    ]
    mesh = asm.MeshConfigChange("asm", "ASMMeshConfig", None, "default", "unset", "true")
    assert mesh.undo(read_at("9")).body == {
        "spec": {"enableNativeSidecar": None},
        "metadata": {"resourceVersion": "9"},
    }
    namespace = linkerd.NamespaceChange("linkerd", "Namespace", None, "shop", "false", "true")
    assert namespace.undo(read_at("3")).body == {
        "metadata": {"annotations": {namespace.key: "false"}, "resourceVersion": "3"}
    }


# --- status --probe ----------------------------------------------------------------------------


def test_status_probe_takes_desired_from_admission_and_says_where_the_model_disagrees(
    connect_to, run
):
    # The mesh config says native; the admission chain (a template without a native form,
    # say) gives traditional.
    cluster = FakeCluster(
        cluster_objects(native=True, cart_mode="traditional"),
        namespace="shop",
        admission=istio_admission(False),
    )
    connect_to(cluster)
    result = run("status", "-n", "shop", "--probe", "-o", "json")
    assert result.exit_code == 0, result.output
    items = {item["pod"]: item for item in json.loads(result.stdout)["items"]}
    cart = items["cart-1-a"]
    assert cart["desiredMode"] == "traditional"
    assert cart["desiredModeSource"] == "admission (dry-run create)"
    assert cart["modelDesiredMode"] == "native"
    assert cart["needsRestart"] is False, cart
    assert any(
        p.startswith("admission gives traditional; the mesh config says native")
        for p in cart["problems"]
    ), cart
    # One dry-run create per distinct template (cart's and web's are the same), not per pod.
    assert len(cluster.dry_run_creates) == 1
    assert sorted(
        name for verb, kind, _, name in cluster.reads if (verb, kind) == ("get", "Deployment")
    ) == ["cart", "web"]
    plain = run("status", "-n", "shop", "-o", "json")
    assert "modelDesiredMode" not in plain.stdout
    assert json.loads(plain.stdout)["items"][0]["desiredModeSource"] != "admission (dry-run create)"


def test_a_server_dry_run_sends_the_pins_first_with_dry_run(stripped, run):
    result = run("switch", "--native", "--dry-run=server", "--pin-failed")
    assert result.exit_code == 0, result.output
    writes = [(kind, name, dry) for kind, _, name, _, _, dry in stripped.patches]
    assert writes == [
        ("Deployment", "cart", True),
        ("ASMMeshConfig", "default", True),
        ("Deployment", "web", True),
    ]
    assert "pinned back to the old mode: Deployment/cart -n shop" in result.stdout
    assert "1 of 1 workload(s) accepted by the server (dry run)" in result.stdout
