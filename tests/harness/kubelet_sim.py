"""Gives pods a life on fake nodes: the part of a kubelet (and scheduler) rollouts depend on.

Watches pods and, for each one: binds it to a node if it has none (honouring a DaemonSet's node
affinity), then reports container statuses the way a kubelet would once the images ran:
- native sidecars and app containers running and ready, helper init containers completed;
- a mesh proxy in initContainers *without* restartPolicy: Always never completes, so the pod hangs
  in Init, as it does on a real node;
- Job pods: app containers finish; a traditional proxy keeps running, so the pod never succeeds
  (the stuck Job of the ASM page), while a native one is stopped and the pod Succeeds.
Pods being deleted are removed at once, as a kubelet does after the grace period.

Two knobs make rollouts slow on purpose (tests of waiting, the switch benchmark):
- a pod annotated `kubelet-sim/ready-after-seconds: "N"` becomes ready N seconds after it starts;
- a pod created in a namespace labelled `kubelet-sim/hold=true` starts but never becomes ready
  (a rollout that neither finishes nor fails), while the pods already there stay as they are.
"""

import argparse
import itertools
import sys
import threading
import time

from tests.harness.api import Api, ApiFailure, resource_path

PROXIES = {"istio-proxy", "linkerd-proxy", "kuma-sidecar", "consul-dataplane", "envoy-sidecar"}
READY_AFTER = "kubelet-sim/ready-after-seconds"
HOLD_LABEL = "kubelet-sim/hold"
_ip_counter = itertools.count(1)


def _now():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _running(container, ready=True):
    return {
        "name": container["name"],
        "image": container.get("image", ""),
        "imageID": "",
        "containerID": f"containerd://{container['name']}",
        "restartCount": 0,
        "ready": ready,
        "started": True,
        "state": {"running": {"startedAt": _now()}},
    }


def _completed(container):
    return {
        "name": container["name"],
        "image": container.get("image", ""),
        "imageID": "",
        "containerID": f"containerd://{container['name']}",
        "restartCount": 0,
        "ready": False,
        "started": False,
        "state": {
            "terminated": {
                "exitCode": 0,
                "reason": "Completed",
                "startedAt": _now(),
                "finishedAt": _now(),
            }
        },
    }


def _condition(kind, ok):
    return {
        "type": kind,
        "status": "True" if ok else "False",
        "lastTransitionTime": _now(),
        "lastProbeTime": None,
    }


def not_ready_yet(status):
    """The same status with every running container started but not ready (pure)."""
    held = dict(status)
    held["containerStatuses"] = [dict(s, ready=False) for s in status.get("containerStatuses", [])]
    held["conditions"] = [
        dict(c, status="False") if c["type"] in ("ContainersReady", "Ready") else c
        for c in status.get("conditions", [])
    ]
    return held


def pod_status(pod):
    """The status a kubelet would report for this pod once it ran (pure)."""
    spec = pod["spec"]
    counter = next(_ip_counter)
    status = {
        "hostIP": "127.0.0.1",
        "podIP": f"10.244.{counter // 250 % 250}.{counter % 250 + 1}",
        "startTime": _now(),
    }
    init_statuses = []
    for container in spec.get("initContainers") or []:
        if container.get("restartPolicy") == "Always":
            init_statuses.append(_running(container))
        elif container["name"] in PROXIES:
            # A proxy that never exits blocks every init container and app container after it.
            init_statuses.append(_running(container, ready=False))
            status.update(
                phase="Pending",
                initContainerStatuses=init_statuses,
                conditions=[
                    _condition("PodScheduled", True),
                    _condition("Initialized", False),
                    _condition("ContainersReady", False),
                    _condition("Ready", False),
                ],
            )
            status["containerStatuses"] = [
                {
                    "name": c["name"],
                    "image": c.get("image", ""),
                    "imageID": "",
                    "restartCount": 0,
                    "ready": False,
                    "started": False,
                    "state": {"waiting": {"reason": "PodInitializing"}},
                }
                for c in spec["containers"]
            ]
            return status
        else:
            init_statuses.append(_completed(container))
    runs_to_completion = spec.get("restartPolicy") in ("Never", "OnFailure")
    statuses = []
    for container in spec["containers"]:
        if runs_to_completion and container["name"] not in PROXIES:
            statuses.append(_completed(container))
        elif runs_to_completion:
            statuses.append(_running(container, ready=False))
        else:
            statuses.append(_running(container))
    if init_statuses:
        status["initContainerStatuses"] = init_statuses
    status["containerStatuses"] = statuses
    still_running = any("running" in s["state"] for s in statuses)
    if runs_to_completion and not still_running:
        # Native sidecars are stopped once the app containers finish.
        for entry in init_statuses:
            if "running" in entry["state"]:
                entry.update(_completed({"name": entry["name"], "image": entry["image"]}))
        status["phase"] = "Succeeded"
        status["conditions"] = [
            _condition("PodScheduled", True),
            _condition("Initialized", True),
            _condition("ContainersReady", False),
            _condition("Ready", False),
        ]
        return status
    ready = all(s["ready"] for s in statuses)
    status["phase"] = "Running"
    status["conditions"] = [
        _condition("PodScheduled", True),
        _condition("Initialized", True),
        _condition("ContainersReady", ready),
        _condition("Ready", ready),
    ]
    return status


def affinity_node(pod):
    """The node a DaemonSet pod is pinned to through required node affinity on metadata.name."""
    affinity = (pod["spec"].get("affinity") or {}).get("nodeAffinity") or {}
    required = affinity.get("requiredDuringSchedulingIgnoredDuringExecution") or {}
    for term in required.get("nodeSelectorTerms") or []:
        for field in term.get("matchFields") or []:
            if field.get("key") == "metadata.name" and field.get("values"):
                return field["values"][0]
    return None


class Kubelet:
    def __init__(self, api):
        self.api = api
        self.nodes = itertools.cycle([None])

    def refresh_nodes(self):
        names = sorted(n["metadata"]["name"] for n in self.api.items(resource_path("v1", "nodes")))
        self.nodes = itertools.cycle(names or [None])

    def handle(self, pod):
        metadata, spec = pod["metadata"], pod["spec"]
        path = resource_path("v1", "pods", metadata["namespace"], metadata["name"])
        if metadata.get("deletionTimestamp"):
            self.api.request(
                "DELETE",
                path,
                {"gracePeriodSeconds": 0, "preconditions": {"uid": metadata["uid"]}},
                expect=(200, 202, 404, 409),
            )
            return
        if not spec.get("nodeName"):
            node = affinity_node(pod) or next(self.nodes)
            if node is None:
                return
            self.api.request(
                "POST",
                f"{path}/binding",
                {
                    "apiVersion": "v1",
                    "kind": "Binding",
                    "metadata": {"name": metadata["name"]},
                    "target": {"apiVersion": "v1", "kind": "Node", "name": node},
                },
                expect=(201, 200, 409, 404),
            )
            return
        if (pod.get("status") or {}).get("startTime"):
            return
        status = pod_status(pod)
        delay = (metadata.get("annotations") or {}).get(READY_AFTER)
        if self._held(metadata["namespace"]):
            self._report(path, not_ready_yet(status))
        elif delay:
            self._report(path, not_ready_yet(status))
            timer = threading.Timer(float(delay), self._report, (path, status))
            timer.daemon = True
            timer.start()
        else:
            self._report(path, status)

    def _report(self, path, status, attempts=30):
        """Patch a pod's status, retrying for a while: a delayed report may come due while the
        API server restarts, and a real kubelet keeps reporting until it gets through."""
        for attempt in range(attempts):
            try:
                self.api.request(
                    "PATCH",
                    f"{path}/status",
                    {"status": status},
                    content_type="application/merge-patch+json",
                    expect=(200, 404, 409),
                )
                return
            except Exception as error:  # noqa: BLE001 - a timer thread must not die loudly
                if attempt == attempts - 1:
                    print(f"kubelet-sim: {path}: {error}", file=sys.stderr, flush=True)
                time.sleep(1)

    def _held(self, namespace):
        found = self.api.get(resource_path("v1", "namespaces", name=namespace), missing_ok=True)
        return ((found or {}).get("metadata", {}).get("labels") or {}).get(HOLD_LABEL) == "true"

    def run(self):
        pods = resource_path("v1", "pods")
        while True:
            try:
                # Inside the try: an API server restart must not end the simulator, as it
                # doesn't end a kubelet.
                self.refresh_nodes()
                listing = self.api.request("GET", pods)
                for pod in listing["items"]:
                    self._safely(pod)
                for kind, pod in self.api.watch(pods, listing["metadata"]["resourceVersion"]):
                    if kind in ("ADDED", "MODIFIED"):
                        self._safely(pod)
            except ApiFailure as failure:  # 410 Gone: list again
                print(f"kubelet-sim: watch ended: {failure}", file=sys.stderr, flush=True)
            except Exception as error:  # noqa: BLE001 - keep the simulator alive across hiccups
                print(f"kubelet-sim: watch failed: {error}", file=sys.stderr, flush=True)
                time.sleep(1)

    def _safely(self, pod):
        try:
            self.handle(pod)
        except Exception as error:  # noqa: BLE001
            name = f"{pod['metadata'].get('namespace')}/{pod['metadata'].get('name')}"
            print(f"kubelet-sim: {name}: {error}", file=sys.stderr, flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for flag in ("--server", "--token", "--ca"):
        parser.add_argument(flag, required=True)
    args = parser.parse_args(argv)
    Kubelet(Api(args.server, args.token, args.ca)).run()


if __name__ == "__main__":
    main()
