"""Every write the tool makes, table-tested: object, body and content type."""

import pytest

from kubectl_sidecar import patches
from kubectl_sidecar.meshes import asm, consul, istio, kuma, linkerd

MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
STAMP = "2026-11-24T12:00:00+00:00"


def template_annotations(annotations):
    return {"spec": {"template": {"metadata": {"annotations": annotations}}}}


@pytest.mark.parametrize(
    "patch, path, body, content_type, ref",
    [
        (
            patches.restart("Deployment", "shop", "cart", STAMP),
            "/apis/apps/v1/namespaces/shop/deployments/cart",
            template_annotations({"kubectl.kubernetes.io/restartedAt": STAMP}),
            STRATEGIC,
            "deployment.apps/cart -n shop",
        ),
        (
            patches.restart("StatefulSet", "data", "db", STAMP),
            "/apis/apps/v1/namespaces/data/statefulsets/db",
            template_annotations({"kubectl.kubernetes.io/restartedAt": STAMP}),
            STRATEGIC,
            "statefulset.apps/db -n data",
        ),
        # Argo Rollouts restart their pods themselves once spec.restartAt passes; a CRD takes merge.
        (
            patches.restart("Rollout", "shop", "web", STAMP),
            "/apis/argoproj.io/v1alpha1/namespaces/shop/rollouts/web",
            {"spec": {"restartAt": "2026-11-24T12:00:01+00:00"}},
            MERGE,
            "rollout.argoproj.io/web -n shop",
        ),
        (
            patches.pod_template_annotation(
                "DaemonSet", "ops", "agent", "sidecar.istio.io/nativeSidecar", "false"
            ),
            "/apis/apps/v1/namespaces/ops/daemonsets/agent",
            template_annotations({"sidecar.istio.io/nativeSidecar": "false"}),
            STRATEGIC,
            "daemonset.apps/agent -n ops",
        ),
        (
            patches.pod_template_annotation(
                "Rollout", "shop", "web", "sidecar.istio.io/nativeSidecar", "true"
            ),
            "/apis/argoproj.io/v1alpha1/namespaces/shop/rollouts/web",
            template_annotations({"sidecar.istio.io/nativeSidecar": "true"}),
            MERGE,
            "rollout.argoproj.io/web -n shop",
        ),
        (
            asm.native_sidecar("default", True),
            "/apis/istio.alibabacloud.com/v1beta1/asmmeshconfigs/default",
            {"spec": {"enableNativeSidecar": True}},
            MERGE,
            "asmmeshconfig.istio.alibabacloud.com/default",
        ),
        # Strategic merge matches the container and the env entry by name: other env is kept.
        (
            istio.istiod_env("istio-system", "istiod-canary", "discovery", "false"),
            "/apis/apps/v1/namespaces/istio-system/deployments/istiod-canary",
            {
                "spec": {
                    "template": {
                        "spec": {
                            "containers": [
                                {
                                    "name": "discovery",
                                    "env": [{"name": "ENABLE_NATIVE_SIDECARS", "value": "false"}],
                                }
                            ]
                        }
                    }
                }
            },
            STRATEGIC,
            "deployment.apps/istiod-canary -n istio-system",
        ),
        # Consul's injector: command/args are replaced whole, so only if the Deployment is still
        # the version they were read from.
        (
            consul.injector_patch(
                "consul",
                "consul-connect-injector",
                {"name": "sidecar-injector", "args": ["inject-connect", "-x=1"]},
                "4711",
            ),
            "/apis/apps/v1/namespaces/consul/deployments/consul-connect-injector",
            {
                "metadata": {"resourceVersion": "4711"},
                "spec": {
                    "template": {
                        "spec": {
                            "containers": [
                                {"name": "sidecar-injector", "args": ["inject-connect", "-x=1"]}
                            ]
                        }
                    }
                },
            },
            STRATEGIC,
            "deployment.apps/consul-connect-injector -n consul",
        ),
        (
            consul.injector_patch(
                "consul",
                "consul-connect-injector",
                {"name": "sidecar-injector", "command": ["sh", "-ec", "exec x"]},
            ),
            "/apis/apps/v1/namespaces/consul/deployments/consul-connect-injector",
            {
                "spec": {
                    "template": {
                        "spec": {
                            "containers": [
                                {"name": "sidecar-injector", "command": ["sh", "-ec", "exec x"]}
                            ]
                        }
                    }
                }
            },
            STRATEGIC,
            "deployment.apps/consul-connect-injector -n consul",
        ),
        (
            linkerd.namespace_patch("emojivoto", "true"),
            "/api/v1/namespaces/emojivoto",
            {
                "metadata": {
                    "annotations": {"config.linkerd.io/proxy-enable-native-sidecar": "true"}
                }
            },
            MERGE,
            "namespace/emojivoto",
        ),
    ],
)
def test_each_write_is_the_object_body_and_content_type_it_must_be(
    patch, path, body, content_type, ref
):
    assert patch.resource.path(patch.namespace, patch.name) == path
    assert (patch.body, patch.content_type, patch.ref) == (body, content_type, ref)


def env_body(container, entry):
    return {"spec": {"template": {"spec": {"containers": [{"name": container, "env": [entry]}]}}}}


@pytest.mark.parametrize(
    "value, resource_version, body",
    [
        # Strategic merge matches the container and the env entry by name: the rest is kept.
        ("true", None, env_body("control-plane", {"name": "SETTING", "value": "true"})),
        # Held to the version it was read at: a Deployment changed since answers 409.
        (
            "",
            "4711",
            {
                "metadata": {"resourceVersion": "4711"},
                **env_body("control-plane", {"name": "SETTING", "value": ""}),
            },
        ),
        # None puts an unset entry back: strategic merge's delete directive, not an empty value.
        (None, None, env_body("control-plane", {"name": "SETTING", "$patch": "delete"})),
    ],
)
def test_deployment_env_sets_or_deletes_one_entry_of_one_container(value, resource_version, body):
    patch = patches.deployment_env(
        "kuma-system", "kuma-control-plane", "control-plane", "SETTING", value, resource_version
    )
    assert patch.resource.path(patch.namespace, patch.name) == (
        "/apis/apps/v1/namespaces/kuma-system/deployments/kuma-control-plane"
    )
    assert (patch.body, patch.content_type) == (body, STRATEGIC)


def test_istio_and_kuma_write_their_env_setting_through_the_one_patch():
    for make, env_name in (
        (istio.istiod_env, "ENABLE_NATIVE_SIDECARS"),
        (kuma.kuma_env_patch, "KUMA_EXPERIMENTAL_SIDECAR_CONTAINERS"),
    ):
        for value in ("true", None):
            assert make("ns", "cp", "main", value, "7") == patches.deployment_env(
                "ns", "cp", "main", env_name, value, "7"
            )


@pytest.mark.parametrize(
    "asked, restart_at",
    [
        ("2026-11-24T12:00:00+00:00", "2026-11-24T12:00:01+00:00"),
        ("2026-11-24T13:59:59.25+02:00", "2026-11-24T14:00:00+02:00"),
        ("2026-11-24T12:00:00Z", "2026-11-24T12:00:01+00:00"),
        ("now", "now"),
    ],
)
def test_an_argo_rollout_restarts_from_the_next_whole_second(asked, restart_at):
    """The controller keeps the pods created in restartAt's own second (whole seconds), so a
    pod created in the second of the restart must still count as older."""
    assert patches.restart_at(asked) == restart_at
