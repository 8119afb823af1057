"""Every write the tool makes, table-tested: object, body and content type."""

import pytest

from kubectl_sidecar import patches
from kubectl_sidecar.meshes import asm, consul, istio, linkerd

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
            {"spec": {"restartAt": STAMP}},
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
