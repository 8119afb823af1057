"""Turn status rows into text: table, wide, summary, json, yaml. Returns strings, no I/O.

Tables are printed the way kubectl prints them (left-aligned columns, three spaces apart,
upper-case headers). We format them ourselves rather than with tabulate: on 10,000 rows
tabulate takes ~0.35 s, this takes ~0.02 s, and the pod table is the hot path of `status -A`.
The small tables built whole (--summary, the switch plan) were measured too
(bench/tables_bench.py): tabulate gives the same text but costs ~34 ms to import and 14-18x the
time per table, and earns nothing on names that are all ASCII, so they use columns() as well.
"""
import json
from datetime import datetime, timezone

from kubectl_sidecar.actions import Step
from kubectl_sidecar.classify import GATEWAY, MODES, NONE

API_VERSION = "kubectl-sidecar/v1alpha1"
OUTPUTS = ("table", "wide", "json", "yaml")


def columns(headers, rows, no_headers=False, widths=None):
    """kubectl-style table text (ends with a newline), or "" without rows and headers.

    widths, when given, are the least widths of the columns and are widened in place to fit
    these rows: a table printed in parts keeps one alignment as long as its cells fit, the
    way kubectl's tabwriter remembers widths between flushes.
    """
    lines = rows if no_headers else [headers] + list(rows)
    if not lines:
        return ""
    if widths is None:
        widths = [0] * len(headers)
    for i in range(len(headers)):
        widths[i] = max(widths[i], max(len(line[i]) for line in lines))
    last = len(headers) - 1
    out = []
    for line in lines:
        cells = [cell.ljust(widths[i]) if i < last else cell for i, cell in enumerate(line)]
        out.append("   ".join(cells).rstrip())
    return "\n".join(out) + "\n"


# The ACTION column's words for each remedy; {ref} is the workload's Kind/name.
ACTION_TEXT = {
    Step.NOT_MESHED: "-",
    Step.OK: "ok",
    Step.UNKNOWN: "unknown",
    Step.STUCK_JOB: "stuck: app exited, proxy keeps the job pod alive",
    Step.NEXT_RUN: "next run",
    Step.JOB_RUNS_OUT: "job: runs to completion in old mode",
    Step.RESTART: "restart {ref}",
    Step.RECREATE: "recreate",
    Step.RESUME: "paused: resume {ref}, then restart",
    Step.DELETE_PODS: "delete pods",
    Step.DELETE_REPLICASET_PODS: "delete pods",
    Step.OTHER_CONTROLLER: "manual: {ref} manages its pods",
}


def action_text(remedy):
    """The ACTION cell (and the json `action`) for an actions.Remedy."""
    if remedy is None:
        return "-"
    return ACTION_TEXT[remedy.step].format(ref=workload_name(remedy.workload))


def workload_name(workload):
    return f"{workload[0]}/{workload[1]}" if workload else "<none>"


def age(created, now):
    """kubectl's short age: 45s, 12m, 5h, 3d (from an RFC 3339 timestamp)."""
    if not created:
        return "<unknown>"
    try:
        then = datetime.fromisoformat(created.replace("Z", "+00:00"))
    except ValueError:
        return "<unknown>"
    seconds = max(0, int((now - then).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size * 2:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


class PodTable:
    """The per-pod table, printed in parts as batches of rows arrive: headers once, columns
    only ever widening."""

    def __init__(self, all_namespaces, wide=False, no_headers=False, now=None):
        self.all_namespaces = all_namespaces
        self.wide = wide
        self.no_headers = no_headers
        self.now = now or datetime.now(timezone.utc)
        self.headers = ["POD", "WORKLOAD", "PROXY", "MODE", "DESIRED", "ACTION"]
        if wide:
            self.headers += ["NODE", "REVISION", "AGE"]
        if all_namespaces:
            self.headers.insert(0, "NAMESPACE")
        self.widths = [0] * len(self.headers)
        self._headers_done = no_headers

    def render(self, rows):
        """Text for these rows (after the headers, the first time)."""
        table = [self._cells(row) for row in rows]
        if not table:
            return ""
        text = columns(self.headers, table, self._headers_done, self.widths)
        self._headers_done = True
        return text

    def _cells(self, row):
        desired = "-" if row.mode in (NONE, GATEWAY) else row.desired or "unknown"
        cells = [row.name, workload_name(row.workload), row.proxy or "<none>", row.mode,
                 desired, action_text(row.remedy)]
        if self.wide:
            cells += [row.node or "<none>", row.revision or "<none>", age(row.created, self.now)]
        if self.all_namespaces:
            cells.insert(0, row.namespace)
        return cells


def pod_table(scope, rows, wide=False, no_headers=False, now=None):
    """The whole per-pod table at once."""
    return PodTable(scope.all_namespaces, wide, no_headers, now).render(rows)


def summary_line(mesh, tally):
    """The line under the table: mesh and configured mode, pods per mode, restarts needed."""
    counts = tally.mode_counts()
    modes = ", ".join(f"{counts[mode]} {mode}" for mode in MODES if counts[mode])
    return (f"Mesh {mesh.describe()}. Pods: {modes or 'none'}. "
            f"{tally.needs_action} pod(s) need action, "
            f"{len(tally.workloads)} workload(s) to restart.")


def namespace_summary(tally, no_headers=False):
    """One line per namespace with pod counts per mode (the --summary view)."""
    headers = ["NAMESPACE"] + [mode.upper() for mode in MODES] + ["NEEDS-ACTION"]
    table = [[namespace] + [str(counts[key]) for key in MODES + ("restart",)]
             for namespace, counts in sorted(tally.per_namespace.items())]
    return columns(headers, table, no_headers)


def item(row):
    """One pod in the documented -o json/yaml contract."""
    return {
        "namespace": row.namespace,
        "pod": row.name,
        "workload": {"kind": row.workload[0], "name": row.workload[1]} if row.workload else None,
        "proxy": row.proxy,
        "mode": row.mode,
        "desiredMode": row.desired,
        "desiredModeSource": row.desired_reason if row.proxy else None,
        "needsRestart": row.needs_restart,
        "action": action_text(row.remedy),
        "problems": list(row.problems),
        "node": row.node,
        "revision": row.revision,
        "creationTimestamp": row.created,
    }


def document(report, rows=None):
    """The whole -o json/yaml document (a dict)."""
    mesh = report.mesh
    mesh_doc = {
        "name": mesh.name,
        "context": mesh.context,
        "configuredMode": mesh.mesh_wide.mode if mesh.mesh_wide else None,
        "source": mesh.mesh_wide.source if mesh.mesh_wide else None,
        "revisions": {rev: {"configuredMode": s.mode, "source": s.source}
                      for rev, s in sorted(mesh.revisions.items())},
        "description": mesh.describe(),
    }
    return {
        "apiVersion": API_VERSION,
        "kind": "SidecarStatus",
        "mesh": mesh_doc,
        "summary": report.tally().summary(),
        "warnings": list(report.warnings),
        "items": [item(row) for row in (report.rows if rows is None else rows)],
    }


def as_json(report, rows=None):
    return json.dumps(document(report, rows), indent=2) + "\n"


def as_yaml(report, rows=None):
    import yaml

    return yaml.safe_dump(document(report, rows), sort_keys=False, default_flow_style=False)


# --- switch / restart ----------------------------------------------------------------------

def plan_text(plan, scope, brief=False):
    """The plan as the user reviews it before confirming (and as a dry run prints it)."""
    out = []
    if not brief:
        if plan.target:
            out.append(f"Plan: switch to {plan.target} sidecars"
                       + (f" in {scope.describe()}" if scope else "") + ".")
        else:
            out.append("Plan: restart workloads whose pods differ from the mesh's configured mode"
                       + (f" in {scope.describe()}" if scope else "") + ".")
    if plan.config_changes:
        out.append("\nMesh config changes:")
        out += [f"  {change.describe()}" for change in plan.config_changes]
    if plan.overrides:
        out.append("\nPod-template annotations to set (each rolls its workload out):")
        out += [f"  {o.namespace}  {o.ref}: {o.annotation}={o.value}" for o in plan.overrides]
    healthy = [r for r in plan.restarts if not r.unhealthy]
    if healthy:
        out.append(f"\nWorkloads to restart ({len(healthy)}):")
        table = [[r.namespace, r.ref, str(r.pods)] for r in healthy]
        out.append(_indent(columns(["NAMESPACE", "WORKLOAD", "PODS-TO-SWITCH"], table)))
    if plan.unhealthy:
        out.append(f"\nFailing before the switch: restarted, not waited for, never stopping the "
                   f"run ({len(plan.unhealthy)}; --skip-unhealthy leaves them alone):")
        table = [[r.namespace, r.ref, str(r.pods), r.unhealthy] for r in plan.unhealthy]
        out.append(_indent(columns(["NAMESPACE", "WORKLOAD", "PODS-TO-SWITCH", "FAILING"], table)))
    if plan.manual and not brief:
        out.append(f"\nNot switched by a restart: needs you ({len(plan.manual)}):")
        table = [[m.namespace, m.what, m.todo] for m in plan.manual]
        out.append(_indent(columns(["NAMESPACE", "WHAT", "TO DO"], table)))
    if not brief:
        untouched = f"\nUntouched: {plan.already} pod(s) already in their target mode, " \
                    f"{plan.outside} pod(s) outside the mesh or gateways"
        if plan.unknown:
            untouched += f", {plan.unknown} pod(s) whose target mode is unknown"
        out.append(untouched + ".")
        if plan.elsewhere:
            out.append(f"Not restarted: {plan.elsewhere} workload(s) in other namespaces keep the "
                       "old mode until restarted (kubectl sidecar restart -A).")
    return "\n".join(out).rstrip("\n")


def _indent(text):
    return "\n".join("  " + line for line in text.rstrip("\n").splitlines())


def outcome_text(outcome, plan, server_dry_run=False):
    """What was and wasn't done, and how to finish."""
    out = []
    if outcome.terminated:
        out.append("Terminated.")
    elif outcome.interrupted:
        out.append("Interrupted.")
    workloads = len(plan.overrides) + len(plan.restarts)
    verb = "accepted by the server (dry run)" if server_dry_run else "rolled out"
    out.append(f"Done: {len(outcome.config_done)} of {len(plan.config_changes)} config change(s), "
               f"{len(outcome.succeeded)} of {workloads} workload(s) {verb}.")
    failed = {ref for ref, _ in outcome.failed}
    for ref, why in outcome.failed:
        out.append(f"  {'refused' if ref in outcome.refused else 'failed'}: {ref}: {why}")
    for ref, why in outcome.not_waited:
        out.append(f"  restarted, not waited for (failing before: {why}): {ref}")
    unwaited = {ref for ref, _ in outcome.not_waited}
    waiting = [ref for ref in outcome.started
               if ref not in outcome.succeeded and ref not in failed and ref not in unwaited]
    for ref in waiting:
        out.append(f"  restarted, rollout not confirmed: {ref}")
    for ref in outcome.pinned:
        out.append(f"  pinned back to the old mode: {ref}")
    if outcome.not_started:
        shown = outcome.not_started[:20]
        more = len(outcome.not_started) - len(shown)
        out.append(f"  not started: {', '.join(shown)}"
                   + (f" and {more} more" if more else ""))
    out += _next_step(outcome, failed, waiting, server_dry_run)
    return "\n".join(out)


def _next_step(outcome, failed, waiting, server_dry_run):
    """How to finish, said only where it helps: a rerun can't fix a refusal, and a dry run or
    a finished run has nothing to continue."""
    if server_dry_run:
        if outcome.failed:
            return [f"The server refused {len(outcome.failed)} write(s): a real run would fail "
                    "there."]
        return []
    lines = []
    refused = [ref for ref in outcome.refused]
    if refused:
        lines.append(f"{len(refused)} write(s) were refused: running again won't help until "
                     "you have the rights to make them.")
    rerunnable = (failed - set(refused)) or outcome.not_started or waiting or outcome.interrupted
    if rerunnable:
        lines.append("Run the same command again to continue: it skips what is already done.")
    return lines


# --- machine-readable switch / restart documents --------------------------------------------

def _item_doc(item):
    doc = {"kind": item.kind, "namespace": item.namespace, "name": item.name}
    if getattr(item, "pods", None) is not None:
        doc["podsToSwitch"] = item.pods
    if getattr(item, "annotation", None):
        doc["annotation"] = {item.annotation: item.value}
    if item.unhealthy:
        doc["failingBefore"] = item.unhealthy
    return doc


def plan_document(plan, findings=None):
    return {
        "target": plan.target,
        "configChanges": [{"object": c.describe().split(":")[0], "change": c.describe(),
                           "from": c.old, "to": c.new} for c in plan.config_changes],
        "overrides": [_item_doc(o) for o in plan.overrides],
        "restarts": [_item_doc(r) for r in plan.restarts],
        "manual": [{"namespace": m.namespace, "what": m.what, "todo": m.todo} for m in plan.manual],
        "untouched": {"alreadyInTargetMode": plan.already, "outsideTheMesh": plan.outside,
                      "unknownTarget": plan.unknown, "workloadsInOtherNamespaces": plan.elsewhere},
        "accessRefused": [{"verb": p.verb, "group": p.group, "resource": p.plural,
                           "namespace": p.namespace, "onMeshInstance": p.on_mesh_instance,
                           "reason": reason}
                          for p, reason in (findings.refused if findings else [])],
    }


def plan_json(plan, findings=None):
    """The plan as one document (switch/restart -o json with --dry-run or nothing to do)."""
    return json.dumps({"apiVersion": API_VERSION, "kind": "SwitchPlan",
                       "plan": plan_document(plan, findings)}, indent=2)


def outcome_json(plan, outcome, exit_code):
    """What a run did as one document (switch/restart -o json)."""
    return json.dumps({
        "apiVersion": API_VERSION, "kind": "SwitchResult",
        "plan": plan_document(plan),
        "result": {
            "exitCode": exit_code,
            "configChanged": list(outcome.config_done),
            "rolledOut": list(outcome.succeeded),
            "failed": [{"workload": ref, "reason": why, "refused": ref in outcome.refused}
                       for ref, why in outcome.failed],
            "notWaitedFor": [{"workload": ref, "failingBefore": why}
                             for ref, why in outcome.not_waited],
            "pinned": list(outcome.pinned),
            "notStarted": list(outcome.not_started),
            "interrupted": outcome.interrupted,
        },
    }, indent=2)
