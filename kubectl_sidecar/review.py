"""Before any write, in every context at once: the plan shown, access checked (as `kubectl auth
can-i` asks), the canary tried, the confirmation asked; a run that stops here says why and gives
its exit code.
"""

from kubectl_sidecar import access, render
from kubectl_sidecar.canaryrun import try_plans
from kubectl_sidecar.fleet import at_once


def review(parts, options, console, problems, report_to):
    """Show the plan, check access, confirm: None when the run may change the cluster, else
    the exit code of a run that stops here, having said why."""
    several = len(parts) > 1
    anywhere = " in any context" if several else ""
    report_to(render.plan_text([(p.member.name, p.plan, p.scope) for p in parts]))
    for line in problems:
        console.err(
            ("Warning: " if options.force else "Refused: ")
            + line
            + (" (continuing: --force)" if options.force else "")
        )
    empty = all(part.plan.empty for part in parts)
    if not empty:
        _check_access(parts, console, canary_on=options.canary)
    refused = sum(len(part.findings.refused) for part in parts if part.findings)
    blocked = bool(problems) and not options.force
    unswitchable = 0
    if options.canary and not (empty or refused or blocked):
        unswitchable = try_plans(parts, options, report_to)
    if options.output == "json" and (
        empty or options.dry_run == "client" or refused or blocked or unswitchable
    ):
        console.out(
            render.plan_json(
                [(p.member.name, p.plan, p.findings) for p in parts], problems if blocked else ()
            )
        )
    if blocked:
        report_to(
            "Nothing was changed: contexts that share one mesh config must agree on what "
            "it injects (check each context's mesh, or --force to switch anyway)."
        )
        return 1
    if empty:
        report_to(
            f"Nothing to change{anywhere}."
            + (
                ""
                if any(part.plan.manual for part in parts)
                else " Everything is already in the target mode."
            )
        )
        return 0
    if refused:
        report_to(
            f"Nothing was changed{anywhere}: {refused} permission(s) the plan needs "
            "are missing (above). Ask for them, or narrow the run with -n or "
            + ("--context." if several else "a workload.")
        )
        return 1
    if unswitchable and (options.keep_going or (options.pin_failed and options.mesh_wide)):
        report_to(
            f"Nothing was changed{anywhere}: none of the workloads to switch can be switched "
            f"({unswitchable}, above), so the mesh config is left as it is: changed alone, it "
            "would switch no running pod, only new ones the canary says can't run in the "
            "target mode. Fix what refuses them (above), then run the same command again."
        )
        return 1
    if unswitchable:
        rest = "restart the rest" if options.target is None else "switch the rest"
        report_to(
            f"Nothing was changed{anywhere}: {unswitchable} workload(s) can't be "
            + ("restarted into their configured mode" if options.target is None else "switched")
            + " (above). "
            + (
                "Pin them to the old mode and switch the rest with --pin-failed, or switch "
                "the rest and leave them with --keep-going."
                if options.mesh_wide
                else f"To {rest} and leave them, add --keep-going."
            )
        )
        return 1
    return confirmed_or_exit_code(options, console, report_to)


def _check_access(parts, console, canary_on=False):
    """Every context's access findings, asked at once, before any write anywhere; with
    canary_on, the canary's too (a refusal of those skips the canary there: Part.canary_refused)."""

    def one(part):
        if part.plan.empty:
            return None
        needed = access.needed(part.plan) + (part.lease.permissions() if part.lease else [])
        if canary_on:
            needed += access.canary_permissions(part.plan)
        return access.check(sorted(set(needed)), part.member.cluster, part.member.mesh_cluster)

    for part, findings in zip(parts, at_once(one, parts), strict=True):
        part.findings = findings
        if findings is None:
            continue
        if canary_on:
            # The canary is not a write the plan needs: without it the run goes on as before.
            probing = set(access.canary_permissions(part.plan))
            for permission, reason in findings.refused:
                if permission in probing:
                    part.canary_refused[permission.namespace or ""] = reason or "no reason given"
            findings.refused = [entry for entry in findings.refused if entry[0] not in probing]
        mesh = part.member.mesh_cluster or part.member.cluster
        for line in findings.lines(
            _judged(part.member.cluster, part.member.name), _judged(mesh, mesh.context)
        ):
            console.err(f"Warning: {line}" if line.startswith("could not") else f"Refused: {line}")


def _judged(cluster, context):
    """The context whose rights a refusal is about, and whom the server judged where that is
    not the context's own user: "admin, as bob" (--as), "admin, with --token"."""
    acting = getattr(cluster, "acting_as", None)
    return f"{context}, {acting}" if acting else context


def confirmed_or_exit_code(options, console, report_to):
    """None when the run may change the cluster; else the exit code of a client dry run (0)
    or of a plan the user declined (1), after saying that nothing was changed."""
    if options.dry_run == "client":
        report_to("Dry run: nothing was changed.")
        return 0
    if options.dry_run is None and not options.yes and not console.confirm():
        report_to("Nothing was changed.")
        return 1
    return None
