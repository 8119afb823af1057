"""The canary: what the admission chain really does to a workload's next pod, asked before
anything is written.

A pod made from the workload's template and created with dryRun=All goes through every
mutating and validating admission webhook, PodSecurity and ResourceQuota exactly as the real
pod would, and nothing is stored. The mesh's injector is one of those webhooks, so the pod
that comes back says which proxy, in which mode, the workload's pods will get. A policy webhook
that strips restartPolicy (the most reported native-sidecar failure), one that refuses the pod,
or an injector that doesn't read the setting a switch writes shows here, before a restart finds
it out by failing.

pod_from_template, judge and judge_refusal are pure; probe() asks the API server (through
cluster.py): one GET per workload for its template, one dry-run create per distinct template.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kubectl_sidecar import resources
from kubectl_sidecar.classify import find_proxy
from kubectl_sidecar.errors import ApiError
from kubectl_sidecar.meshes.base import Mode, parse_bool
from kubectl_sidecar.plan import CanaryFindings
from kubectl_sidecar.refs import WorkloadRef
from kubectl_sidecar.workloads import template_reference

if TYPE_CHECKING:
    from kubectl_sidecar.cluster import ClusterApi
    from kubectl_sidecar.plan import Plan

# Where status --probe says a desired mode came from.
SOURCE = "admission (dry-run create)"
# Requests in flight at once: the access review's, and small beside what a switch's rollouts ask.
CONCURRENT_PROBES = 8
# Seconds one dry-run create may take: admission webhooks have at most 30 s each.
PROBE_TIMEOUT = 60.0
# How the API server words an RBAC refusal of the create itself (not a policy's refusal of the
# pod, which PodSecurity also answers with 403 Forbidden).
_RBAC_MARK = "cannot create resource"


@dataclass(frozen=True)
class Probe:
    """One workload to try: what to set on its canary pod and what must come back."""

    ref: WorkloadRef
    family: str | None  # the mesh whose proxy its pods run
    want: Mode | None  # the mode its pods must come back in; None: any a pod can start in
    key: str | None = None  # the per-pod mode annotation to set on the canary pod
    value: str | None = None
    # The run writes key=value on the template itself (a per-workload switch): it wins over a
    # mode annotation the template has. Otherwise such an annotation stays and decides `want`.
    writes: bool = False


@dataclass(frozen=True)
class Answer:
    """What one canary pod's admission means for its workload."""

    mode: Mode | None  # the mode its pods would get; None when not known (refused, skipped)
    why: str | None = None  # why it can't be switched; None when it can
    skipped: str | None = None  # why the canary could not be asked (the caller's rights)


@dataclass
class Result:
    """The canary of a whole plan."""

    answers: dict[WorkloadRef, Answer] = field(default_factory=dict)
    requests: int = 0  # API requests made: GETs of templates and dry-run creates
    creates: int = 0  # dry-run creates (distinct templates)
    skipped: list[str] = field(default_factory=list)  # why parts of it were not asked

    @property
    def cant(self) -> dict[WorkloadRef, str]:
        """{workload: why} of the workloads that can't be switched, in a stable order."""
        return {
            ref: answer.why
            for ref, answer in sorted(self.answers.items())
            if answer.why is not None
        }


def pod_from_template(
    ref: WorkloadRef, template: Mapping, key: str | None = None, value: str | None = None
) -> dict:
    """The pod the workload's controller would create from `template` (its spec.template), with
    key=value set among its annotations: the name generated from the workload's, as a
    controller's are; in its namespace, so that namespace-scoped webhooks, PodSecurity and
    quota apply; its service account, labels and annotations from the template. No owner: a
    dry run can't reference a ReplicaSet that doesn't exist."""
    metadata = template.get("metadata") or {}
    annotations = dict(metadata.get("annotations") or {})
    if key is not None and value is not None:
        annotations[key] = value
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "generateName": f"{ref.name[:50]}-canary-",
            "namespace": ref.namespace,
            "labels": dict(metadata.get("labels") or {}),
            "annotations": annotations,
        },
        "spec": template.get("spec") or {},
    }


def judge(pod: Mapping, want: Mode | None, proxy_names: Mapping[str, str] | None = None) -> Answer:
    """What an admitted canary pod says: the mode of its proxy, and why its workload can't be
    switched where the proxy is missing, can't start, or is not in the mode wanted."""
    proxy, _, mode = find_proxy(pod, dict(proxy_names or {}))
    return judge_proxy(proxy, mode, want)


def judge_proxy(proxy: str | None, mode: Mode, want: Mode | None) -> Answer:
    """judge() from what find_proxy read of the pod: its proxy container and mode."""
    if proxy is None:
        return Answer(
            Mode.NONE,
            "admitted without a mesh proxy: no injector added one (is the injector's webhook "
            "down, failing open, or not selecting this namespace?)",
        )
    if mode is Mode.INVALID:
        return Answer(
            mode,
            f"{proxy} comes back as an init container without restartPolicy: Always (a "
            "webhook after the injector removed it): its pods could not start",
        )
    if want is not None and mode != want:
        return Answer(mode, f"the injector gives it a {mode} proxy, not {want}")
    return Answer(mode)


def judge_refusal(status: int, message: str) -> Answer:
    """What a refused canary pod says: the caller may not create pods (the canary is skipped,
    the run goes on as it would without it), or admission refuses the pod itself (a webhook,
    PodSecurity, a quota, validation): then its workload's new pods would be refused too."""
    if status == 403 and _RBAC_MARK in message:
        return Answer(None, skipped=message)
    return Answer(None, f"its pods would be refused: {message}")


def wanted_mode(probe: Probe, template_annotations: Mapping[str, str]) -> tuple[Mode | None, bool]:
    """(the mode the canary pod must come back in, whether to set probe.key on it). The pod
    after a mesh-wide switch is its template's, with the mesh's new setting under whatever the
    template sets itself: so a template that has probe.key keeps its value, and the pod must
    come back in the mode that value asks for; one that hasn't gets key=value, standing in for
    the new setting (a Linkerd namespace's annotation is copied onto its pods so, too). Only
    that key: which of a mesh's other keys its running release reads is the injector's
    business, and the canary asks the injector. A run that writes the key itself (a
    per-workload switch) sets it whatever the template says."""
    if probe.key is None:
        return probe.want, False
    own = template_annotations.get(probe.key)
    if probe.writes or own is None:
        return probe.want, True
    native = parse_bool(own)
    return (Mode.of(native) if native is not None else probe.want), False


def probes_for(plan: Plan) -> list[Probe]:
    """What to try of every workload a plan writes. A restart in a switch: its pod with the
    mesh's per-pod annotation for the target, so it comes back as it will once the mesh is
    switched; where the mesh has none (Kuma), only that it is admitted with a proxy that can
    start (the mode shows once the config is changed). An override: the annotation it writes.
    A restart alone (no target): admitted with a proxy that can start."""
    target = plan.target
    probes = []
    for override in plan.overrides:
        probes.append(
            Probe(override.ref, None, target, override.annotation, override.value, writes=True)
        )
    for restart in plan.restarts:
        key = plan.override_key(restart.family) if target is not None else None
        probes.append(
            Probe(
                restart.ref,
                restart.family,
                target if key else None,
                key,
                target.annotation if key and target is not None else None,
            )
        )
    return probes


def settle_probes(plan: Plan, skip: Iterable[str] = ()) -> list[Probe]:
    """After the mesh-wide change: one workload to restart per namespace and revision, tried
    without any per-pod annotation, so its pod shows what the mesh now injects (skip: the
    namespaces where the caller may not create pods)."""
    if plan.target is None or not plan.config_changes:
        return []
    skipped = set(skip)
    chosen: dict[tuple[str, str | None], Probe] = {}
    for restart in plan.restarts:
        where = (restart.namespace, restart.revision)
        if restart.namespace not in skipped and where not in chosen:
            chosen[where] = Probe(restart.ref, restart.family, plan.target)
    return list(chosen.values())


def until_injected(
    cluster: ClusterApi,
    probes: list[Probe],
    deadline: float,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    proxy_names: Mapping[str, str] | None = None,
) -> dict[WorkloadRef, str]:
    """Try the probes again and again until each comes back in its mode (the injector has
    the new config: istiod, Consul's injector and kuma-cp roll out, ASM pushes it to the data
    plane in its own time), or the deadline (a clock() reading) passes. {workload: why} of
    those still wrong then; empty once all are right."""
    pending = list(probes)
    delay = 1.0
    while True:
        result = probe(cluster, pending, proxy_names)
        wrong = {
            ref: answer.why
            for ref, answer in result.answers.items()
            if answer.why is not None and answer.skipped is None
        }
        pending = [item for item in pending if item.ref in wrong]
        if not pending or clock() + delay > deadline:
            return {ref: why for ref, why in wrong.items() if why is not None}
        sleep(delay)
        delay = min(delay * 2, 5.0)


def findings(result: Result, probed: int) -> CanaryFindings:
    """The plan's record of a canary's result."""
    return CanaryFindings(
        probed=probed,
        creates=result.creates,
        requests=result.requests,
        cant=list(result.cant.items()),
        skipped=list(result.skipped),
    )


def probe(
    cluster: ClusterApi,
    probes: Iterable[Probe],
    proxy_names: Mapping[str, str] | None = None,
    concurrency: int = CONCURRENT_PROBES,
) -> Result:
    """Try every probe: its workload's template (GET), then one dry-run create per distinct
    pod (identical templates asked once, their answer shared). Refusals of the caller's rights
    become Result.skipped; a workload without a pod template is not judged."""
    result = Result()
    lock = threading.Lock()
    asked: dict[str, Future] = {}

    def create(namespace: str, pod: dict) -> tuple[tuple[str | None, Mode] | None, ApiError | None]:
        """(proxy, mode) of the admitted pod, or the refusal: only that is kept for the
        workloads that share the template, not the pod."""
        try:
            admitted = cluster.create_pod_dry_run(namespace, pod, timeout=PROBE_TIMEOUT)
        except ApiError as error:
            return None, error
        proxy, _, mode = find_proxy(admitted, dict(proxy_names or {}))
        return (proxy, mode), None

    def get(kind: str, name: str, namespace: str) -> dict | None:
        try:
            return cluster.get(resources.BY_KIND[kind], name, namespace)
        finally:
            with lock:
                result.requests += 1

    def one(item: Probe) -> tuple[WorkloadRef, Answer | None]:
        ref = item.ref
        try:
            obj = get(ref.kind, ref.name, ref.namespace)
            elsewhere = template_reference(obj or {})
            if elsewhere is not None and elsewhere[0] in resources.BY_KIND:
                # An Argo Rollout running a Deployment's template (spec.workloadRef): try that.
                obj = get(elsewhere[0], elsewhere[1], ref.namespace)
        except ApiError as error:
            if error.denied:
                return ref, Answer(None, skipped=error.message)
            raise
        template = ((obj or {}).get("spec") or {}).get("template")
        if not template:
            return ref, None  # gone meanwhile
        annotations = (template.get("metadata") or {}).get("annotations") or {}
        want, set_key = wanted_mode(item, annotations)
        pod = pod_from_template(
            ref, template, item.key if set_key else None, item.value if set_key else None
        )
        # The generated name differs; the rest is what admission sees.
        seen = {key: value for key, value in pod["metadata"].items() if key != "generateName"}
        digest = hashlib.sha256(
            json.dumps([seen, pod["spec"]], sort_keys=True).encode()
        ).hexdigest()
        with lock:
            future = asked.get(digest)
            mine = future is None
            if mine:
                future = asked[digest] = Future()
                result.requests += 1
                result.creates += 1
        assert future is not None
        if mine:
            try:
                future.set_result(create(ref.namespace, pod))
            except BaseException as failure:  # the others waiting on it must not hang
                future.set_exception(failure)
                raise
        admitted, refusal = future.result()
        if refusal is not None:
            return ref, judge_refusal(refusal.status, refusal.message)
        assert admitted is not None
        proxy, mode = admitted
        return ref, judge_proxy(proxy, mode, want)

    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        for ref, answer in pool.map(one, list(probes)):
            if answer is None:
                continue
            result.answers[ref] = answer
            if answer.skipped and answer.skipped not in result.skipped:
                result.skipped.append(answer.skipped)
    return result
