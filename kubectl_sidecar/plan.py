"""What a switch or restart will change, and what it can't: pure functions of status data.

A Plan is computed from the live state every time, which is what makes a switch resumable:
a config already set is not patched again, and only workloads that still have pods in the
old mode are restarted.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field

from kubectl_sidecar import patches
from kubectl_sidecar.actions import Remedy, Step, remedy
from kubectl_sidecar.classify import OVERRIDE_ANNOTATIONS, PodRow
from kubectl_sidecar.meshes import registry
from kubectl_sidecar.meshes.base import NO_MESH, ConfigChange, MeshConfig, Mode
from kubectl_sidecar.refs import WorkloadRef
from kubectl_sidecar.workloads import WorkloadFacts

# The workloads read for a plan.
Facts = Mapping[WorkloadRef, WorkloadFacts]


@dataclass(frozen=True)
class Restart:
    """A workload whose controller will replace its pods."""

    kind: str
    namespace: str
    name: str
    pods: int  # pods now in the wrong mode
    family: str | None = None  # the mesh whose proxy the pods run
    unhealthy: str | None = None  # why it was failing before the restart, if it was
    in_flight: bool = False  # its rollout is under way: waited for, not restarted again
    revision: str | None = None  # the control plane revision that injected its pods
    verb = "restarted"

    @property
    def ref(self) -> WorkloadRef:
        return WorkloadRef(self.kind, self.namespace, self.name)

    def patch(self, timestamp: str) -> patches.Patch:
        return patches.restart(self.kind, self.namespace, self.name, timestamp)


@dataclass(frozen=True)
class Override:
    """A per-workload pod-template annotation that pins the mode for that workload only."""

    kind: str
    namespace: str
    name: str
    annotation: str
    value: str
    unhealthy: str | None = None
    verb = "annotated"

    @property
    def ref(self) -> WorkloadRef:
        return WorkloadRef(self.kind, self.namespace, self.name)

    def patch(self, timestamp: str | None = None) -> patches.Patch:
        return patches.pod_template_annotation(
            self.kind, self.namespace, self.name, self.annotation, self.value
        )


@dataclass(frozen=True)
class Manual:
    """Pods a restart can't switch, and what the user must do about them."""

    namespace: str
    what: str
    todo: str


@dataclass
class CanaryFindings:
    """What the canary (canary.py) found for a plan: shown with it, kept in -o json."""

    probed: int = 0  # workloads whose pod was tried
    creates: int = 0  # dry-run pod creates sent (identical templates once)
    requests: int = 0  # every request it made (the templates' GETs too)
    cant: list[tuple[WorkloadRef, str]] = field(default_factory=list)  # (workload, why)
    skipped: list[str] = field(default_factory=list)  # why parts of it were not asked
    # What the run does with the workloads that can't be switched: "refuse" (nothing is
    # written), "pin" (pinned to the old mode first) or "leave" (left as they are).
    handling: str = "refuse"


@dataclass
class Plan:
    target: Mode | None  # None for restart: each pod's configured mode
    config_changes: list[ConfigChange] = field(default_factory=list)
    overrides: list[Override] = field(default_factory=list)
    restarts: list[Restart] = field(default_factory=list)
    manual: list[Manual] = field(default_factory=list)
    already: int = 0  # mesh pods already in the mode they should be in
    outside: int = 0  # pods without a proxy of this mesh, or gateways: never touched
    unknown: int = 0  # pods whose desired mode can't be known
    elsewhere: int = 0  # workloads to restart outside the namespace the restarts are limited to
    lost: int = 0  # pods to restart that have no proxy though their mesh's injector gives one
    # family -> the pod-template annotation that pins its pods' mode, where the running
    # control plane reads another than the family's first (override_key)
    pin_keys: dict[str, str] = field(default_factory=dict)
    # Pins to the old mode written before anything else: the workloads the canary found
    # can't be switched, with --pin-failed.
    pins: list[Override] = field(default_factory=list)
    canary: CanaryFindings | None = None

    def override_key(self, family: str | None) -> str | None:
        """The pod-template annotation that pins `family`'s pods (pins after a failed rollout)."""
        if family in self.pin_keys:
            return self.pin_keys[family]
        keys = OVERRIDE_ANNOTATIONS.get(family or "")
        return keys[0] if keys else None

    @property
    def empty(self) -> bool:
        return not (self.config_changes or self.overrides or self.restarts or self.pins)

    @property
    def switches_a_workload(self) -> bool:
        """Some workload is restarted, annotated or pinned: more than the mesh-wide config."""
        return bool(self.overrides or self.restarts or self.pins)

    @property
    def unhealthy(self) -> list[Restart]:
        """Restarts of workloads that were failing before: restarted, not waited for."""
        return [restart for restart in self.restarts if restart.unhealthy]

    def limit_to(self, namespace: str) -> None:
        """Restart only in `namespace` (a mesh-wide switch with -n); count the others."""
        self.elsewhere += sum(1 for r in self.restarts if r.namespace != namespace)
        self.restarts = [r for r in self.restarts if r.namespace == namespace]
        self.manual = [m for m in self.manual if m.namespace == namespace]

    def set_aside_unswitchable(self, cant: Mapping[WorkloadRef, str], pin: bool) -> None:
        """Take the workloads the canary found can't be switched ({workload: why}) out of
        the restarts and overrides; pin them to the old mode first (pin, a switch's
        --pin-failed) where the mesh has a per-workload annotation, else list them as left."""
        if not cant:
            return
        items: list[Restart | Override] = [*self.restarts, *self.overrides]
        for item in items:
            if item.ref not in cant:
                continue
            key = self.override_key(getattr(item, "family", None))
            if pin and key and self.target is not None:
                self.pins.append(Override(*item.ref, key, self.target.opposite.annotation))
                continue
            todo = f"can't be switched: {cant[item.ref]}; left as it is"
            if pin:
                todo += " (no per-workload annotation pins it)"
            self.manual.append(Manual(item.namespace, item.ref.short, todo))
        self.restarts = [r for r in self.restarts if r.ref not in cant]
        self.overrides = [o for o in self.overrides if o.ref not in cant]

    def set_aside_unhealthy(self) -> None:
        """Don't restart workloads that were failing before (--skip-unhealthy): list them."""
        for restart in self.unhealthy:
            self.manual.append(
                Manual(
                    restart.namespace,
                    restart.ref.short,
                    f"was failing before ({restart.unhealthy}): fix it, then "
                    "run this command again",
                )
            )
        self.restarts = [restart for restart in self.restarts if not restart.unhealthy]


def config_changes(mesh: MeshConfig, target: Mode, rows: list[PodRow]) -> list[ConfigChange]:
    """The writes that make the mesh inject `target` from now on (none if it already does)."""
    if mesh.name == NO_MESH:
        return []  # nothing read, nothing to write: the switch refuses before this
    return registry.control_plane(mesh.name).config_changes(mesh, Mode(target), rows)


def plan_switch(rows: list[PodRow], mesh: MeshConfig, target: Mode | str, facts: Facts) -> Plan:
    """Mesh-wide switch: change the config, restart every workload with pods in another mode.

    Pods whose workload's own override annotation pins a mode keep it; they are only touched
    when they differ from that pinned mode. (row.override and row.mode_annotations are the
    workload's own: status.Assessor has set aside pods' copies of their namespace's.)
    """
    family = mesh.family
    target = Mode(target)
    plan = Plan(
        target=target,
        config_changes=config_changes(mesh, target, rows),
        pin_keys=_pin_keys(mesh),
    )
    mine = [row for row in rows if row.family == family]
    plan.outside += len(rows) - len(mine)
    after = registry.control_plane(mesh.name).desired_after_switch(
        mesh, plan.config_changes, target
    )

    def desired(row):
        # A pod whose injector ignores the config keeps its mode: restarting it switches nothing.
        return row.fixed.mode if row.fixed is not None else after(row)

    # A restart already rolling out makes pods of the mode the mesh injects now: waiting for it
    # helps only once the config says the target (a rerun after a stop), never before.
    _plan_pods(plan, mine, desired, facts, wait_in_flight=not plan.config_changes)
    return plan


def plan_restart(rows: list[PodRow], facts: Facts) -> Plan:
    """Restart only: bring pods to what the mesh is configured to inject now (row.desired)."""
    plan = Plan(target=None)
    _plan_pods(plan, rows, lambda row: row.desired, facts, wait_in_flight=True)
    return plan


def _pin_keys(mesh: MeshConfig | None) -> dict[str, str]:
    if mesh is None or mesh.family is None or mesh.override_key is None:
        return {}
    return {mesh.family: mesh.override_key}


def plan_override(
    rows: list[PodRow],
    workloads: list[tuple[WorkloadRef, str | None, dict[str, str]]],
    target: Mode | str,
    facts: Facts,
    mesh: MeshConfig | None = None,
    template_from: Mapping[WorkloadRef, str] | None = None,
) -> Plan:
    """Per-workload switch: pin `target` with the mesh's pod-template annotation, the one the
    running control plane reads (mesh.override_key) where it says.

    workloads is [(workload, family, template annotations)] for the named workloads; rows are
    the pods in scope (pods of other workloads are ignored). template_from names, for a
    workload whose pod template is another object's (an Argo Rollout's spec.workloadRef), that
    object, e.g. "deployment/api": Argo Rollouts rejects a template written beside a
    workloadRef, so such a workload is left to the user, with what to set where.
    """
    target = Mode(target)
    plan = Plan(target=target, pin_keys=_pin_keys(mesh))
    wanted = {ref for ref, _, _ in workloads}
    # Workloads whose injector gives their pods a fixed mode that isn't the target: an
    # annotation asking for it would roll them out for nothing.
    fixed_elsewhere = {
        row.workload: row.fixed
        for row in rows
        if row.workload and row.fixed is not None and row.fixed.mode != target
    }
    template_from = template_from or {}
    elsewhere = set()
    for ref, family, template_annotations in workloads:
        key = plan.override_key(family)
        fixed = fixed_elsewhere.get(ref)
        if key and ref in template_from:
            elsewhere.add(ref)
            plan.manual.append(
                Manual(
                    ref.namespace,
                    ref.short,
                    f"its pod template is {template_from[ref]}'s (spec.workloadRef): set "
                    f'{key}: "{target.annotation}" on that template\'s annotations '
                    "and Argo Rollouts rolls it out",
                )
            )
            continue
        if fixed is not None:
            plan.manual.append(
                Manual(ref.namespace, ref.short, f"stays {fixed.mode}: {fixed.source}")
            )
            continue
        if not key:
            plan.manual.append(
                Manual(
                    ref.namespace,
                    ref.short,
                    f"no per-workload override is known for {family or 'this'} mesh",
                )
            )
            continue
        if template_annotations.get(key) != target.annotation:
            plan.overrides.append(Override(*ref, key, target.annotation))
    overridden = {o.ref for o in plan.overrides}
    mine = [row for row in rows if row.workload in wanted]

    def desired(row: PodRow) -> Mode | None:
        if row.fixed is not None:
            return row.fixed.mode
        return target if row.family else None

    _plan_pods(plan, mine, desired, facts, skip_restart=overridden | elsewhere)
    return plan


def _plan_pods(
    plan: Plan,
    rows: list[PodRow],
    desired_for: Callable[[PodRow], Mode | None],
    facts: Facts,
    skip_restart: Collection[WorkloadRef] = (),
    wait_in_flight: bool = False,
) -> Plan:
    """Sort pods by their remedy: already right, outside the mesh, unknown, to restart (once
    per workload), or a manual step. wait_in_flight: a workload whose restart is already
    rolling out is waited for rather than restarted again."""
    restart_pods: defaultdict[WorkloadRef, int] = defaultdict(int)
    families: dict[WorkloadRef, str | None] = {}
    revisions: dict[WorkloadRef, str | None] = {}
    manual: dict[tuple[str, str], str] = {}
    for row in rows:
        if row.terminating:
            continue
        fix = remedy(row, desired_for(row), facts)
        if fix.step is Step.NOT_MESHED:
            plan.outside += 1
        elif fix.step is Step.UNKNOWN:
            plan.unknown += 1
        elif fix.step is Step.OK:
            plan.already += 1
        elif fix.step is Step.RESTART:
            assert fix.workload is not None  # a restart is always of a workload
            restart_pods[fix.workload] += 1
            plan.lost += bool(row.lost)
            families[fix.workload] = row.family
            revisions[fix.workload] = row.revision
        else:
            what = fix.workload.short if fix.workload else f"Pod/{row.name}"
            manual[(row.namespace, what)] = manual_step(fix, row)
    plan.restarts = [
        Restart(
            *ref,
            count,
            families[ref],
            getattr(facts.get(ref), "unhealthy", None),
            wait_in_flight and getattr(facts.get(ref), "in_flight", False),
            revisions[ref],
        )
        for ref, count in sorted(
            restart_pods.items(), key=lambda item: (item[0].namespace, item[0].kind, item[0].name)
        )
        if ref not in skip_restart
    ]
    plan.manual += [
        Manual(namespace, what, todo) for (namespace, what), todo in sorted(manual.items())
    ]
    return plan


def manual_step(fix: Remedy, row: PodRow) -> str:
    """What the user must do about a pod whose remedy is not a restart we can make."""
    step = fix.step
    namespace = row.namespace
    if step is Step.STUCK_JOB:
        return (
            "its Job's app has finished but the traditional proxy keeps it running: "
            f"delete it (kubectl delete pod -n {namespace} {row.name})"
        )
    if step is Step.RECREATE:
        return "bare pod: recreate it from its manifest to switch it"
    assert fix.workload is not None  # every other step is of a workload
    kind = fix.workload.kind
    if step is Step.NEXT_RUN:
        return "CronJob: its next run gets the new mode; nothing to do"
    if step is Step.JOB_RUNS_OUT:
        return "Job: running pods keep the old mode until they finish; re-run the Job to switch it"
    if step is Step.RESUME:
        return (
            f"paused: resume it (kubectl rollout resume -n {namespace} "
            f"{fix.workload.resource}), then run this command again"
        )
    if step is Step.DELETE_PODS:
        return (
            "OnDelete update strategy: a restart changes no pod; delete its pods one at a "
            "time to switch them"
        )
    if step is Step.DELETE_REPLICASET_PODS:
        return "ReplicaSet without a Deployment: delete its pods"
    return f"managed by {kind}: restart it the way its controller supports"
