"""Istio: istiod's setting per revision, and which istiod decides a pod."""

import pytest

from kubectl_sidecar.actions import assess
from kubectl_sidecar.classify import classify_pod
from kubectl_sidecar.meshconfig import desired_setting
from kubectl_sidecar.meshes.asm import asm_config
from kubectl_sidecar.meshes.istio import (
    config_changes,
    istio_config,
    istiod_needs_kubelets,
    istiod_setting,
)
from kubectl_sidecar.plan import plan_override, plan_switch
from kubectl_sidecar.refs import WorkloadRef
from tests.unit import pods


def istiod(env=None, image="docker.io/istio/pilot:1.26.2", revision=None, name="istiod"):
    container = {
        "name": "discovery",
        "image": image,
        "env": [{"name": "PILOT_TRACE", "value": "1"}],
    }
    if env is not None:
        container["env"].append({"name": "ENABLE_NATIVE_SIDECARS", "value": env})
    labels = {"app": "istiod"}
    if revision:
        labels["istio.io/rev"] = revision
    return {
        "metadata": {"name": name, "namespace": "istio-system", "labels": labels},
        "spec": {"template": {"spec": {"containers": [container]}}},
    }


NEW_KUBELETS = {"node-1": "v1.33.1", "node-2": "v1.34.0-eks-abc"}
MIXED_KUBELETS = {"node-1": "v1.33.1", "node-old": "v1.30.4"}


@pytest.mark.parametrize(
    "env, image, kubelets, native",
    [
        ("true", "pilot:1.22.0", None, True),
        ("false", "pilot:1.28.0", NEW_KUBELETS, False),
        ("TRUE", "pilot:1.24.0", None, True),
        (None, "pilot:1.26.2", None, False),  # 1.19-1.26: absent means false
        (None, "pilot:1.27.1", NEW_KUBELETS, True),  # 1.27+: absent means auto
        (None, "pilot:1.27.1", MIXED_KUBELETS, False),
        ("auto", "pilot:1.28.0", NEW_KUBELETS, True),
        ("auto", "pilot:1.28.0", MIXED_KUBELETS, False),
        ("auto", "pilot:1.28.0", None, None),  # nodes unreadable
        (None, "pilot", None, None),  # version unknown
        ("maybe", "pilot:1.28.0", None, None),
    ],
)
def test_istiod_setting_follows_env_version_and_kubelets(env, image, kubelets, native):
    setting = istiod_setting(istiod(env, image=image), kubelets)
    assert setting.native is native
    assert "istio-system/istiod" in setting.source


def test_auto_names_how_many_kubelets_are_too_old():
    assert "1 node(s) with kubelet < 1.33" in istiod_setting(istiod("auto"), MIXED_KUBELETS).source


def test_env_from_a_reference_is_unknown():
    deployment = istiod()
    deployment["spec"]["template"]["spec"]["containers"][0]["env"].append(
        {
            "name": "ENABLE_NATIVE_SIDECARS",
            "valueFrom": {"configMapKeyRef": {"name": "x", "key": "y"}},
        }
    )
    assert istiod_setting(deployment, None).native is None


def test_kubelets_are_needed_only_for_auto():
    assert not istiod_needs_kubelets([istiod("true", image="pilot:1.28.0")])
    assert not istiod_needs_kubelets([istiod(None, image="pilot:1.25.0")])
    assert istiod_needs_kubelets([istiod(None, image="pilot:1.27.0")])
    assert istiod_needs_kubelets([istiod("auto")])


def test_each_pod_uses_the_istiod_of_its_revision():
    config = istio_config(
        [istiod("true"), istiod("false", revision="canary", name="istiod-canary")], None
    )
    default_pod = classify_pod(pods.istio("traditional"))
    canary_pod = classify_pod(pods.istio("native", revision="canary"))
    assert desired_setting(default_pod, config).mode == "native"
    assert desired_setting(canary_pod, config).mode == "traditional"
    orphan = classify_pod(pods.istio("native", revision="gone"))
    assert desired_setting(orphan, config).native is None
    assert "revision gone" in desired_setting(orphan, config).source


def test_pod_override_annotation_wins_over_the_mesh():
    config = asm_config({"spec": {"enableNativeSidecar": True}}, "asm")
    row = classify_pod(
        pods.istio("native", annotations={"sidecar.istio.io/nativeSidecar": "false"})
    )
    setting = desired_setting(row, config)
    assert setting.mode == "traditional"
    assert "sidecar.istio.io/nativeSidecar" in setting.source


def test_a_switch_patches_istiod_at_the_version_it_read():
    read = istiod(env="false")
    read["metadata"]["resourceVersion"] = "812"
    [change] = config_changes(istio_config([read], NEW_KUBELETS), "native", [])
    body = change.patch().body
    assert body["metadata"] == {"resourceVersion": "812"}
    assert body["spec"]["template"]["spec"]["containers"] == [
        {"name": "discovery", "env": [{"name": "ENABLE_NATIVE_SIDECARS", "value": "true"}]}
    ]


@pytest.mark.parametrize(
    "templates, fixed",
    [
        (None, None),
        ("sidecar", None),
        ("gateway", None),
        ("sidecar,gateway", None),
        ("grpc-agent", "injection template grpc-agent has no native form"),
        ("sidecar, my-team-template", "injection template my-team-template has no native form"),
    ],
)
def test_injection_templates_without_a_native_form_fix_the_mode(templates, fixed):
    annotations = {} if templates is None else {"inject.istio.io/templates": templates}
    row = classify_pod(pods.istio("traditional", annotations=annotations))
    config = istio_config([istiod(env="true")], NEW_KUBELETS)
    setting = desired_setting(row, config)
    if fixed is None:
        assert row.fixed is None and setting.native is True
    else:
        assert setting.native is False
        assert setting.source.endswith(fixed)
        assert setting.source.startswith(f"pod annotation inject.istio.io/templates={templates}")


def test_a_switch_never_restarts_a_pod_whose_template_has_no_native_form():
    grpc = classify_pod(
        pods.istio(
            "traditional",
            annotations={"inject.istio.io/templates": "grpc-agent"},
            owner=("ReplicaSet", "grpc-1"),
        )
    )
    grpc.workload = WorkloadRef("Deployment", grpc.namespace, "grpc")
    config = istio_config([istiod(env="false")], NEW_KUBELETS)
    assess(grpc, desired_setting(grpc, config), {})
    plan = plan_switch([grpc], config, "native", {})
    assert plan.restarts == [] and plan.already == 1
    assert [c.new for c in plan.config_changes] == ["true"]
    per_workload = plan_override([grpc], [(grpc.workload, "istio", {})], "native", {})
    assert per_workload.overrides == [] and per_workload.restarts == []
    [manual] = per_workload.manual
    assert manual.todo.startswith("stays traditional: pod annotation inject.istio.io/templates")
