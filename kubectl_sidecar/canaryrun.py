"""The canary (canary.py) in a run, in every context at once: before any write, every planned
workload's next pod tried through admission, and what can't be switched set aside as
--pin-failed or --keep-going say (pinned before the mesh changes); after the mesh-wide change,
one pod per namespace and revision tried again until the mesh injects the target, else the
config put back and the run stopped.
"""

import time

from kubectl_sidecar import canary, render
from kubectl_sidecar.errors import SidecarError
from kubectl_sidecar.fleet import at_once

# How long a switch without --timeout waits for the mesh to inject the new mode.
DEFAULT_SETTLE_SECONDS = 600.0


def until_injected(parts, options):
    """After the mesh-wide change, before any restart: try one workload per namespace and
    revision again, without the per-pod annotation, until the mesh injects the target (its
    control plane rolls out, or pushes the config in its own time), within --timeout. If it
    still injects the old mode, put the config back and stop: restarting would switch
    nothing. SidecarError saying so."""
    probes = [
        canary.settle_probes(part.plan, part.canary_refused) if part.plan.config_changes else []
        for part in parts
    ]
    if not any(probes):
        return
    target = parts[0].plan.target
    deadline = time.monotonic() + (options.timeout or DEFAULT_SETTLE_SECONDS)
    for part, tried in zip(parts, probes, strict=True):
        if tried:
            part.executor.say(
                f"Canary: until the mesh injects {target} sidecars: {len(tried)} pod(s) "
                "tried through admission (one per namespace and revision)"
            )

    def one(pair):
        part, tried = pair
        if not tried:
            return {}
        with part.blamed():
            return canary.until_injected(
                part.member.cluster,
                tried,
                deadline,
                time.monotonic,
                time.sleep,
                options.proxy_names,
            )

    wrong = at_once(one, list(zip(parts, probes, strict=True)))
    if not any(wrong):
        for part, tried in zip(parts, probes, strict=True):
            if tried:
                part.executor.say(f"Canary: the mesh injects {target} sidecars now")
        return
    why = "; ".join(f"{ref}: {reason}" for found in wrong for ref, reason in found.items())
    stopped = (
        f"the mesh still does not inject {target} sidecars after its config change "
        f"({why}); restarting would switch nothing"
    )
    for part in reversed(parts):
        for change in reversed(part.plan.config_changes):
            try:
                part.executor.put_back(change)
            except SidecarError as error:
                raise SidecarError(
                    f"{stopped}, and putting {change.describe()} back failed: "
                    f"{error.format_message()}; put it back by hand"
                ) from None
    raise SidecarError(f"{stopped}: the config was put back and nothing was restarted")


def pin_first(executor, pins, options):
    """Pin the workloads the canary found can't be switched to the old mode, before the mesh
    changes: a pod of theirs recreated after the change (a node drained) keeps the old mode."""
    if options.dry_run == "server":
        executor.run(pins)  # sent with dryRun=All: no rollout to wait for
        sent = {pin.ref for pin in pins} - {ref for ref, _ in executor.outcome.failed}
        outcome = executor.outcome
        outcome.succeeded = [ref for ref in outcome.succeeded if ref not in sent]
        outcome.pinned += sorted(sent)
        return
    executor.pin(pins)


def try_plans(parts, options, report_to):
    """Try every planned workload's next pod through the admission chain (canary.py), in every
    context at once, and say what it found; set aside the workloads that can't be switched as
    --pin-failed or --keep-going say. The number of such workloads left in the plan, or of those
    set aside when --keep-going left no workload to switch anywhere: with any, nothing may be
    written."""
    handling = "refuse"
    if options.pin_failed and options.mesh_wide:
        handling = "pin"
    elif options.keep_going:
        handling = "leave"

    def one(part):
        if part.plan.empty:
            return None
        probes = [
            probe
            for probe in canary.probes_for(part.plan)
            if probe.ref.namespace not in part.canary_refused
        ]
        if not probes and not part.canary_refused:
            return None  # only config to change: no workload's pod to try
        with part.blamed():
            result = canary.probe(part.member.cluster, probes, options.proxy_names)
        return result, len(probes)

    left = 0
    set_aside = 0
    for part, done in zip(parts, at_once(one, parts), strict=True):
        if done is None:
            continue
        found = canary.findings(*done)
        found.handling = handling
        found.skipped = [
            f"may not create pods in namespace {namespace}: {why}"
            for namespace, why in sorted(part.canary_refused.items())
        ] + found.skipped
        for why in found.skipped:
            part.console.err(
                f"Warning: canary skipped ({why}): those workloads are restarted without "
                "trying their pods through admission first"
            )
        part.plan.canary = found
        report_to(render.canary_text(part.label, found, part.plan.target))
        cant = dict(found.cant)
        if handling == "refuse":
            left += len(cant)
        else:
            part.plan.set_aside_unswitchable(cant, pin=handling == "pin")
            set_aside += len(cant)
    if set_aside and not any(part.plan.switches_a_workload for part in parts):
        # --keep-going left every workload there was to switch: the mesh-wide change alone
        # would switch no pod, only the next ones, which the canary says can't be switched.
        return set_aside
    return left
