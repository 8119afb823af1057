"""Objects every local control plane needs before a test runs: the ASM CRD, the read-only user's
RBAC, and nodes with chosen kubelet versions."""

import time

from tests.harness.api import resource_path

CRDS = resource_path("apiextensions.k8s.io/v1", "customresourcedefinitions")

ASM_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "asmmeshconfigs.istio.alibabacloud.com"},
    "spec": {
        "group": "istio.alibabacloud.com",
        "scope": "Cluster",
        "names": {
            "plural": "asmmeshconfigs",
            "singular": "asmmeshconfig",
            "kind": "ASMMeshConfig",
            "listKind": "ASMMeshConfigList",
        },
        "versions": [
            {
                "name": "v1beta1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                        },
                    }
                },
            }
        ],
    },
}

# The read-only user for RBAC tests: may read everything the plugin reads, change nothing.
VIEWER_ROLE = {
    "apiVersion": "rbac.authorization.k8s.io/v1",
    "kind": "ClusterRole",
    "metadata": {"name": "sidecar-viewer"},
    "rules": [
        {
            "apiGroups": [
                "",
                "apps",
                "batch",
                "argoproj.io",
                "istio.alibabacloud.com",
                "admissionregistration.k8s.io",
            ],
            "resources": ["*"],
            "verbs": ["get", "list", "watch"],
        }
    ],
}
VIEWER_BINDING = {
    "apiVersion": "rbac.authorization.k8s.io/v1",
    "kind": "ClusterRoleBinding",
    "metadata": {"name": "sidecar-viewer"},
    "roleRef": {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": "sidecar-viewer",
    },
    "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "viewer"}],
}


def bootstrap(admin, nodes: dict) -> None:
    admin.apply(CRDS, ASM_CRD)
    admin.apply(resource_path("rbac.authorization.k8s.io/v1", "clusterroles"), VIEWER_ROLE)
    admin.apply(
        resource_path("rbac.authorization.k8s.io/v1", "clusterrolebindings"), VIEWER_BINDING
    )
    for name, version in nodes.items():
        add_node(admin, name, version)
    admin.wait_for(
        "the ASMMeshConfig CRD to be established",
        lambda: any(
            c["type"] == "Established" and c["status"] == "True"
            # status and its conditions are null until the API server first writes them.
            for c in (admin.get(f"{CRDS}/{ASM_CRD['metadata']['name']}").get("status") or {}).get(
                "conditions"
            )
            or []
        ),
    )


def add_node(admin, name, kubelet_version):
    nodes = resource_path("v1", "nodes")
    admin.apply(
        nodes,
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": name,
                "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux"},
            },
        },
    )
    # TaintNodesByCondition taints every new node not-ready; the node lifecycle controller that
    # would lift it once the kubelet reports Ready is off here, so lift it ourselves.
    admin.patch(f"{nodes}/{name}", {"spec": {"taints": None}})
    admin.patch(
        f"{nodes}/{name}/status",
        {
            "status": {
                "nodeInfo": {
                    "kubeletVersion": kubelet_version,
                    "kubeProxyVersion": kubelet_version,
                    "operatingSystem": "linux",
                    "architecture": "amd64",
                    "containerRuntimeVersion": "containerd://2.1.0",
                    "kernelVersion": "6.1.0",
                    "osImage": "simulated",
                    "machineID": name,
                    "systemUUID": name,
                    "bootID": name,
                },
                "conditions": [
                    {
                        "type": "Ready",
                        "status": "True",
                        "reason": "KubeletReady",
                        "message": "simulated kubelet",
                        "lastHeartbeatTime": _now(),
                        "lastTransitionTime": _now(),
                    }
                ],
                "capacity": {"cpu": "64", "memory": "256Gi", "pods": "10000"},
                "allocatable": {"cpu": "64", "memory": "256Gi", "pods": "10000"},
                "addresses": [
                    {"type": "InternalIP", "address": "127.0.0.1"},
                    {"type": "Hostname", "address": name},
                ],
            }
        },
    )


def _now():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
