"""Builders for the workload and cluster objects the unit tests put in a FakeCluster.

Pods have their own module (pods.py): their shapes follow each mesh's injector.
"""


def replicaset(name, deployment, namespace="shop"):
    """A ReplicaSet controlled by a Deployment."""
    return {
        "metadata": {
            "name": name,
            "namespace": namespace,
            "ownerReferences": [{"kind": "Deployment", "name": deployment, "controller": True}],
        }
    }


def deployment(name, namespace="shop", replicas=2, paused=False):
    """A Deployment whose last rollout is complete."""
    return {
        "metadata": {"name": name, "namespace": namespace, "generation": 1},
        "spec": {"replicas": replicas, "paused": paused, "template": {"metadata": {}}},
        "status": {
            "observedGeneration": 1,
            "replicas": replicas,
            "updatedReplicas": replicas,
            "availableReplicas": replicas,
        },
    }


def node(name, kubelet_version):
    return {"metadata": {"name": name}, "status": {"nodeInfo": {"kubeletVersion": kubelet_version}}}


def asm_mesh_config(native):
    """ASM's ASMMeshConfig/default with spec.enableNativeSidecar."""
    return {"metadata": {"name": "default"}, "spec": {"enableNativeSidecar": native}}
