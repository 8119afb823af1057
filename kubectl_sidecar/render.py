"""Turn status rows into text: table, wide, summary, json, yaml. Returns strings, no I/O.

Tables are printed the way kubectl prints them (left-aligned columns, three spaces apart,
upper-case headers). The small tables built whole (--summary, the switch plan) use tabulate, as
the design card says, imported only when one is printed (bench/tables_bench.py: ~34 ms to import,
under 3 ms a table, the same text). The pod table stays our own columns(): it is printed a page at
a time with widths remembered between pages, and on 10,000 rows tabulate takes ~0.35 s where
columns() takes ~0.02 s on the hot path of `status -A`.
"""

import json
from datetime import datetime, timezone

from kubectl_sidecar import owners
from kubectl_sidecar.actions import Step
from kubectl_sidecar.classify import AMBIENT, GATEWAY, MODES, NONE
from kubectl_sidecar.meshes.base import MESH_WIDE
from kubectl_sidecar.refs import WorkloadRef

API_VERSION = "kubectl-sidecar/v1alpha1"


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


def workload_name(workload: WorkloadRef | None) -> str:
    return workload.short if workload else "<none>"


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


_NEVER_SWITCHED = (NONE, GATEWAY, AMBIENT)
LOST = "no proxy"  # after a pod's ACTION when its injector would give it one


class PodTable:
    """The per-pod table, printed in parts as batches of rows arrive: headers once, columns
    only ever widening."""

    def __init__(self, all_namespaces, wide=False, no_headers=False, now=None, contexts=False):
        self.all_namespaces = all_namespaces
        self.contexts = contexts  # a fleet: CONTEXT first
        self.wide = wide
        self.no_headers = no_headers
        self.now = now or datetime.now(timezone.utc)
        self.headers = ["POD", "WORKLOAD", "PROXY", "MODE", "DESIRED", "ACTION"]
        if wide:
            self.headers += ["NODE", "REVISION", "AGE"]
        if all_namespaces:
            self.headers.insert(0, "NAMESPACE")
        if contexts:
            self.headers.insert(0, "CONTEXT")
        self.widths = [0] * len(self.headers)
        self._headers_done = no_headers

    def render(self, rows, context=None):
        """Text for these rows (after the headers, the first time); context fills CONTEXT."""
        table = [self._cells(row) for row in rows]
        if self.contexts:
            table = [[context] + cells for cells in table]
        if not table:
            return ""
        text = columns(self.headers, table, self._headers_done, self.widths)
        self._headers_done = True
        return text

    def _cells(self, row):
        if row.mode in _NEVER_SWITCHED and not row.lost:
            desired = "-"
        else:
            desired = row.desired or "unknown"
        action = action_text(row.remedy)
        if row.lost:
            action += f" ({LOST})"
        cells = [
            row.name,
            workload_name(row.workload),
            row.proxy or "<none>",
            row.mode,
            desired,
            action,
        ]
        if self.wide:
            cells += [row.node or "<none>", row.revision or "<none>", age(row.created, self.now)]
        if self.all_namespaces:
            cells.insert(0, row.namespace)
        return cells


def pod_table(scope, rows, wide=False, no_headers=False, now=None):
    """The whole per-pod table of one context at once."""
    return PodTable(scope.all_namespaces, wide, no_headers, now).render(rows)


def summary_line(mesh, tally):
    """The line under one context's table: mesh and configured mode, pods per mode, restarts
    needed."""
    counts = tally.mode_counts()
    modes = ", ".join(f"{counts[mode]} {mode}" for mode in MODES if counts[mode])
    return (
        f"Mesh {mesh.describe()}. Pods: {modes or 'none'}. "
        f"{tally.needs_action} pod(s) need action, "
        f"{len(tally.workloads)} workload(s) to restart.{_not_redirected(tally)}"
    )


def _not_redirected(tally):
    if not tally.not_redirected:
        return ""
    return (
        f" {tally.not_redirected} pod(s) labelled for ambient but not redirected "
        "(is the mesh's CNI agent running?)."
    )


def summary_lines(parts, whole, failed=()):
    """Under the table, for the contexts read (parts: [(context, MeshConfig, Tally)]); failed
    names those that could not be. One context: its summary line. Several (read or not): each
    one's line naming it, then the total over them (whole: fleet.total)."""
    if len(parts) + len(failed) == 1:
        _, mesh, tally = parts[0]
        return summary_line(mesh, tally)
    lines = [f"Context {name}: " + summary_line(mesh, tally) for name, mesh, tally in parts]
    counts = whole.mode_counts()
    modes = ", ".join(f"{counts[mode]} {mode}" for mode in MODES if counts[mode])
    read = f"{len(parts)} context(s)"
    if failed:
        read += f" ({len(failed)} more not read: {', '.join(failed)})"
    lines.append(
        f"Total over {read}: Pods: {modes or 'none'}. {whole.needs_action} pod(s) "
        f"need action, {len(whole.workloads)} workload(s) to restart.{_not_redirected(whole)}"
    )
    return "\n".join(lines)


def whole_table(headers, rows, no_headers=False):
    """A small table built whole, kubectl-style (three spaces apart, no padding past the widest
    cell, every cell left-aligned as text), by tabulate; ends with a newline, or "" when empty."""
    if not rows and no_headers:
        return ""
    import tabulate as tabulating

    tabulating.MIN_PADDING = 0  # kubectl pads a column to its widest cell and no further
    text = tabulating.tabulate(
        rows,
        [] if no_headers else headers,
        tablefmt=tabulating.simple_separated_format("   "),
        stralign="left",
        numalign="left",
        disable_numparse=True,
    )
    return "\n".join(line.rstrip() for line in text.splitlines()) + "\n"


def namespace_summary(tallies, no_headers=False, contexts=False):
    """One line per namespace with pod counts per mode (the --summary view), of every context
    ([(context, Tally)], in order); contexts: several were asked for, CONTEXT first."""
    headers = ["NAMESPACE"] + [mode.upper() for mode in MODES] + ["NEEDS-ACTION"]
    table = [
        [namespace] + [str(counts[key]) for key in MODES + ("restart",)]
        for name, tally in tallies
        for namespace, counts in sorted(tally.per_namespace.items())
    ]
    if contexts:
        headers.insert(0, "CONTEXT")
        names = [name for name, tally in tallies for _ in tally.per_namespace]
        table = [[name] + row for name, row in zip(names, table, strict=True)]
    return whole_table(headers, table, no_headers)


def item(row, context=None):
    """One pod in the documented -o json/yaml contract; of several contexts, naming its own."""
    doc = {
        "namespace": row.namespace,
        "pod": row.name,
        "workload": {"kind": row.workload.kind, "name": row.workload.name}
        if row.workload
        else None,
        "proxy": row.proxy,
        "mode": _plain(row.mode),
        "desiredMode": _plain(row.desired),
        "desiredModeSource": row.desired_reason if row.proxy or row.lost else None,
        "needsRestart": row.needs_restart,
        "action": action_text(row.remedy),
        "problems": list(row.problems),
        "node": row.node,
        "revision": row.revision,
        "creationTimestamp": row.created,
        "ambient": row.ambient,
    }
    if row.model is not None:  # status --probe: what the mesh config alone says
        doc["modelDesiredMode"] = _plain(row.model.mode)
        doc["modelDesiredModeSource"] = row.model.source
    if context is not None:
        doc["context"] = context
    return doc


def _plain(mode):
    """A Mode as documents hold it: a str, which yaml.safe_dump can write."""
    return None if mode is None else str(mode)


def mesh_document(mesh):
    """The mesh as read; "owner" (who owns the object a setting is read from) only where one
    was found."""
    doc = {
        "name": mesh.name,
        "context": mesh.context,
        "configuredMode": _plain(mesh.mesh_wide.mode) if mesh.mesh_wide else None,
        "source": mesh.mesh_wide.source if mesh.mesh_wide else None,
        "revisions": {
            rev: {"configuredMode": _plain(s.mode), "source": s.source, **_owned(mesh, rev)}
            for rev, s in sorted(mesh.revisions.items())
        },
        "description": mesh.describe(),
    }
    if mesh.mesh_wide is not None:
        doc.update(_owned(mesh, MESH_WIDE))
    return doc


def _owned(mesh, key):
    owner = mesh.owners.get(key)
    return {"owner": str(owner)} if owner is not None else {}


def document(reports, whole, errors=None, needs_restart=False, several=False):
    """The whole -o json/yaml document (a dict) of every context read ({context: Report}, in
    order), in the order a streamed one is written; errors: {context: message} of those not
    read; several: more than one context was asked for."""
    return {
        **status_head({name: report.mesh for name, report in reports.items()}, several),
        "items": [
            item(row, name if several else None)
            for name, report in reports.items()
            for row in report.rows
            if not needs_restart or row.needs_restart
        ],
        **status_tail(
            {name: report.tally() for name, report in reports.items()},
            whole,
            {name: report.warnings for name, report in reports.items()},
            errors,
            several,
        ),
    }


def status_head(meshes, several=False):
    """What a SidecarStatus document says before its items, from each context's MeshConfig
    ({context: MeshConfig}, in order).

    Several contexts: the one-context contract with fields added, none renamed. mesh keeps its
    fields (the mesh's when every context reports the same, else null) and gains `contexts`,
    each context's own."""
    if not several:
        (mesh,) = meshes.values()
        return {"apiVersion": API_VERSION, "kind": "SidecarStatus", "mesh": mesh_document(mesh)}
    docs = {name: mesh_document(mesh) for name, mesh in meshes.items()}
    alike = {json.dumps(doc, sort_keys=True) for doc in docs.values()}
    first = next(iter(docs.values()), None)
    # A copy of its own: sharing `revisions` with the first context's would make YAML write
    # an anchor and an alias (`&id001`) where a reader expects two plain maps.
    mesh_doc = (
        json.loads(json.dumps(first))
        if first is not None and len(alike) == 1
        else {
            key: None
            for key in ("name", "context", "configuredMode", "source", "revisions", "description")
        }
    )
    mesh_doc["contexts"] = docs
    return {"apiVersion": API_VERSION, "kind": "SidecarStatus", "mesh": mesh_doc}


def status_tail(tallies, whole, warnings, errors=None, several=False):
    """What a SidecarStatus document says after its items: the summary (whole: the Tally over
    every context, fleet.total), warnings ({context: [text]}) and, of several contexts, each
    one's own summary, its warnings named, and `errors`, the contexts not read
    ({context: message})."""
    summary = whole.summary()
    if not several:
        return {"summary": summary, "warnings": [w for texts in warnings.values() for w in texts]}
    summary["contexts"] = {name: tally.summary() for name, tally in tallies.items()}
    return {
        "summary": summary,
        "warnings": [
            f"context {name}: {text}" for name, texts in warnings.items() for text in texts
        ],
        "errors": [
            {"context": name, "message": message} for name, message in (errors or {}).items()
        ],
    }


class StreamedDocument:
    """The -o json/yaml document written as the pods come, a page of items at a time: memory
    stays flat on clusters of any size, as the table's does. What is known only at the end
    (summary, warnings) is written after the items; JSON and YAML readers don't depend on key
    order, and the text is what dump() gives for the whole document in the same order.

    head() -> the keys before the items (apiVersion, kind, mesh), called once, just before
    the first item is written (the mesh config is read with the first page); tail: the keys
    after them, given to finish().
    """

    def __init__(self, output, write, head):
        self.output = output
        self.write = write
        self.head = head
        self.count = 0
        self.started = False

    def add(self, items):
        for entry in items:
            if not self.started:
                self._start()
            if self.output == "json":
                self.write(("\n" if self.count == 0 else ",\n") + _json_value(entry, 4, True))
            else:
                self.write(("items:\n" if self.count == 0 else "") + _yaml([entry]))
            self.count += 1

    def finish(self, tail):
        if not self.started:
            self._start()
        if self.output == "json":
            self.write(
                ("\n  ]" if self.count else "]")
                + "".join(
                    f",\n  {json.dumps(key)}: {_json_value(value, 2)}"
                    for key, value in tail.items()
                )
                + "\n}\n"
            )
        else:
            self.write(("" if self.count else "items: []\n") + _yaml(tail))

    def _start(self):
        self.started = True
        head = self.head()
        if self.output == "json":
            self.write(
                "{\n"
                + ",\n".join(
                    f"  {json.dumps(key)}: {_json_value(value, 2)}" for key, value in head.items()
                )
                + ',\n  "items": ['
            )
        else:
            self.write(_yaml(head))


def _json_value(value, indent, leading=False):
    """json.dumps(value, indent=2) as it reads nested `indent` spaces deep in a document."""
    text = indented_json(value, indent)
    return " " * indent + text if leading else text


def indented_json(value, at=0):
    """The text json.dumps(value, indent=2) gives, nested `at` spaces deep; scalars by the
    C encoder. json's own indenting encoder is pure Python and leaves each call's closures in
    a reference cycle: with the cyclic collector off while pods are listed, -o json grew
    ~2.8 KB a pod (202 MiB at 50,000 where the table takes 67)."""
    inner = at + 2
    if isinstance(value, dict):
        if not value:
            return "{}"
        entries = (
            f"{' ' * inner}{json.dumps(key)}: {indented_json(item, inner)}"
            for key, item in value.items()
        )
        return "{\n" + ",\n".join(entries) + "\n" + " " * at + "}"
    if isinstance(value, (list, tuple)):
        if not value:
            return "[]"
        entries = (f"{' ' * inner}{indented_json(item, inner)}" for item in value)
        return "[\n" + ",\n".join(entries) + "\n" + " " * at + "]"
    return json.dumps(value)


def _yaml(value):
    import yaml

    return yaml.safe_dump(value, sort_keys=False, default_flow_style=False)


def dump(doc, output):
    """A document as json or yaml text."""
    if output == "json":
        return json.dumps(doc, indent=2) + "\n"
    import yaml

    return yaml.safe_dump(doc, sort_keys=False, default_flow_style=False)


# --- switch / restart ----------------------------------------------------------------------
#
# Each takes the run's contexts as a list, one or several: a single context is shown as it
# always was, several gain a line per context (and the -o json documents a `contexts` list).


def plan_text(parts):
    """The plan as the user reviews it before confirming (and as a dry run prints it), of
    every context ([(context, Plan, Scope)], in order). Several: the mesh config writes once,
    each naming the API server it goes to, then what is restarted in each context."""
    if len(parts) == 1:
        _, plan, scope = parts[0]
        return _plan_body(plan, scope)
    import dataclasses  # status's start-up has no dataclass to import it for

    names = ", ".join(name for name, _, _ in parts)
    target = parts[0][1].target
    what = (
        f"switch to {target} sidecars"
        if target
        else "restart workloads whose pods differ from the mesh's configured mode"
    )
    out = [f"Plan: {what} across {len(parts)} contexts ({names})."]
    changes = [change for _, plan, _ in parts for change in plan.config_changes]
    if changes:
        out.append("\nMesh config changes:")
        out += [line for change in changes for line in change_lines(change)]
    for name, plan, scope in parts:
        out.append(f"\nContext {name}" + (f", {scope.describe()}" if scope else "") + ":")
        alone = dataclasses.replace(plan, config_changes=[])
        body = _plan_body(alone, scope, header=False).strip("\n")
        busy = plan.overrides or plan.restarts or plan.manual
        out.append(_indent(body if busy else "Nothing to restart here. " + body))
    return "\n".join(out)


def change_lines(change):
    """A config change in the plan, and under it who owns the object and where the change must
    live for that owner to keep it (owners.py)."""
    lines = [f"  {change.describe()}"]
    owner = change.owner
    if owner is None:
        return lines
    lines.append(f"    owned by {owner}: {change.caveat()}")
    if owner.kind is owners.Kind.ISTIOCTL and change.helm_value:
        snippet = owners.istio_operator_snippet(change.helm_value, change.new)
        lines += [f"      {line}" for line in snippet.splitlines()]
    return lines


def _plan_body(plan, scope, brief=False, header=True):
    """One context's plan; brief: only what is left to write (verify's list)."""
    out = []
    if not brief and header:
        if plan.target:
            out.append(
                f"Plan: switch to {plan.target} sidecars"
                + (f" in {scope.describe()}" if scope else "")
                + "."
            )
        else:
            out.append(
                "Plan: restart workloads whose pods differ from the mesh's configured mode "
                "or lost their proxy" + (f" in {scope.describe()}" if scope else "") + "."
            )
    if plan.config_changes:
        out.append("\nMesh config changes:")
        out += [line for change in plan.config_changes for line in change_lines(change)]
    if plan.overrides:
        out.append("\nPod-template annotations to set (each rolls its workload out):")
        out += [f"  {o.namespace}  {o.ref.short}: {o.annotation}={o.value}" for o in plan.overrides]
    healthy = [r for r in plan.restarts if not r.unhealthy and not r.in_flight]
    if healthy:
        out.append(f"\nWorkloads to restart ({len(healthy)}):")
        table = [[r.namespace, r.ref.short, str(r.pods)] for r in healthy]
        out.append(_indent(whole_table(["NAMESPACE", "WORKLOAD", "PODS-TO-SWITCH"], table)))
        if plan.lost:
            out.append(
                f"  ({plan.lost} pod(s) among them have no proxy, though the mesh's injector "
                "webhook selects them: the restart gives them one)"
            )
    in_flight = [r for r in plan.restarts if r.in_flight and not r.unhealthy]
    if in_flight:
        out.append(
            f"\nRolling out already (a run stopped midway?): waited for, not restarted again "
            f"({len(in_flight)}):"
        )
        table = [[r.namespace, r.ref.short, str(r.pods)] for r in in_flight]
        out.append(_indent(whole_table(["NAMESPACE", "WORKLOAD", "PODS-TO-SWITCH"], table)))
    if plan.unhealthy:
        out.append(
            f"\nFailing before the switch: restarted, not waited for, never stopping the "
            f"run ({len(plan.unhealthy)}; --skip-unhealthy leaves them alone):"
        )
        table = [[r.namespace, r.ref.short, str(r.pods), r.unhealthy] for r in plan.unhealthy]
        out.append(
            _indent(whole_table(["NAMESPACE", "WORKLOAD", "PODS-TO-SWITCH", "FAILING"], table))
        )
    if plan.manual and not brief:
        out.append(f"\nNot switched by a restart: needs you ({len(plan.manual)}):")
        table = [[m.namespace, m.what, m.todo] for m in plan.manual]
        out.append(_indent(whole_table(["NAMESPACE", "WHAT", "TO DO"], table)))
    if not brief:
        untouched = (
            f"\nUntouched: {plan.already} pod(s) already in their target mode, "
            f"{plan.outside} pod(s) outside the mesh or gateways"
        )
        if plan.unknown:
            untouched += f", {plan.unknown} pod(s) whose target mode is unknown"
        out.append(untouched + ".")
        if plan.elsewhere:
            out.append(
                f"Not restarted: {plan.elsewhere} workload(s) in other namespaces keep the "
                "old mode until restarted (kubectl sidecar restart -A)."
            )
    return "\n".join(out).rstrip("\n")


def lost_proxies_text(context, lost):
    """Workloads this run rolled out whose pods came back without a mesh proxy
    ({WorkloadRef: pods}); context: the context's name when there are several, else None."""
    where = f" in context {context}" if context else ""
    lines = [
        f"{len(lost)} workload(s){where} came back WITHOUT their mesh proxy: is the mesh's "
        "injector running? (a webhook with failurePolicy: Ignore lets pods start without "
        "it). Once it is, restart them again:"
    ]
    for ref, pods in sorted(lost.items(), key=lambda item: str(item[0])):
        lines.append(f"  kubectl rollout restart {ref.kubectl}   # {pods} pod(s)")
    return "\n".join(lines)


def verify_text(left, contexts, unwaited=0):
    """verify's verdict: left, what a fresh plan still has to do ([(context, Plan)], [] when
    nothing), over this many contexts; unwaited counts the workloads restarted but not waited
    for (failing before the switch)."""
    if left:
        if contexts == 1:
            body = _plan_body(left[0][1], None, brief=True)
        else:
            body = "\n".join(
                f"Context {name}:\n" + _plan_body(plan, None, brief=True).strip("\n")
                for name, plan in left
            )
        return "Verify: FAILED, still to do:\n" + body
    where = f" in all {contexts} contexts" if contexts > 1 else ""
    line = f"Verify:{where} every pod that a restart could switch is in its target mode"
    if unwaited:
        line += (
            f", except in {unwaited} workload(s) that were failing before the switch "
            "(restarted, not waited for)"
        )
    return line + "."


def _indent(text):
    return "\n".join("  " + line if line else line for line in text.rstrip("\n").splitlines())


def outcome_text(parts, server_dry_run=False):
    """What was and wasn't done in every context ([(context, Outcome, Plan)]), and how to
    finish."""
    if len(parts) == 1:
        _, outcome, plan = parts[0]
        return _outcome_body(outcome, plan, server_dry_run)
    return "\n".join(
        f"Context {name}:\n" + _indent(_outcome_body(outcome, plan, server_dry_run))
        for name, outcome, plan in parts
    )


def _outcome_body(outcome, plan, server_dry_run):
    out = []
    if outcome.terminated:
        out.append("Terminated.")
    elif outcome.interrupted:
        out.append("Interrupted.")
    workloads = len(plan.overrides) + len(plan.restarts)
    verb = "accepted by the server (dry run)" if server_dry_run else "rolled out"
    out.append(
        f"Done: {len(outcome.config_done)} of {len(plan.config_changes)} config change(s), "
        f"{len(outcome.succeeded)} of {workloads} workload(s) {verb}."
    )
    failed = {ref for ref, _ in outcome.failed}
    for ref, why in outcome.failed:
        out.append(f"  {'refused' if ref in outcome.refused else 'failed'}: {ref}: {why}")
    for ref, why in outcome.not_waited:
        out.append(f"  restarted, not waited for (failing before: {why}): {ref}")
    unwaited = {ref for ref, _ in outcome.not_waited}
    waiting = [
        ref
        for ref in outcome.started
        if ref not in outcome.succeeded and ref not in failed and ref not in unwaited
    ]
    for ref in waiting:
        out.append(f"  restarted, rollout not confirmed: {ref}")
    for ref in outcome.pinned:
        out.append(f"  pinned back to the old mode: {ref}")
    if outcome.not_started:
        shown = outcome.not_started[:20]
        more = len(outcome.not_started) - len(shown)
        out.append(
            f"  not started: {', '.join(map(str, shown))}" + (f" and {more} more" if more else "")
        )
    out += _next_step(outcome, failed, waiting, server_dry_run)
    return "\n".join(out)


def _next_step(outcome, failed, waiting, server_dry_run):
    """How to finish, said only where it helps: a rerun can't fix a refusal, and a dry run or
    a finished run has nothing to continue."""
    if server_dry_run:
        if outcome.failed:
            return [
                f"The server refused {len(outcome.failed)} write(s): a real run would fail there."
            ]
        return []
    lines = []
    refused = list(outcome.refused)
    for cause, what, until in REFUSALS:
        count = sum(1 for ref in refused if outcome.refused_by.get(ref) == cause)
        if count:
            lines.append(f"{count} write(s) were {what}: running again won't help until {until}.")
    rerunnable = (failed - set(refused)) or outcome.not_started or waiting or outcome.interrupted
    if rerunnable and refused:
        # The refused writes come first again in a rerun's plan: it would stop there again.
        lines.append(
            "Once " + ("they are" if len(refused) > 1 else "it is") + " allowed, run the same "
            "command again to continue: it skips what is already done."
        )
    elif rerunnable:
        lines.append("Run the same command again to continue: it skips what is already done.")
    return lines


# (ApiError.refusal, how the report says it, what must change first)
REFUSALS = (
    ("rights", "refused", "you have the rights to make them"),
    ("policy", "refused by an admission policy or webhook", "it allows them"),
    ("invalid", "refused as invalid", "what the server objects to is fixed"),
)


# --- machine-readable switch / restart documents --------------------------------------------


def _item_doc(item):
    doc = {"kind": item.kind, "namespace": item.namespace, "name": item.name}
    if getattr(item, "pods", None) is not None:
        doc["podsToSwitch"] = item.pods
    if getattr(item, "annotation", None):
        doc["annotation"] = {item.annotation: item.value}
    if item.unhealthy:
        doc["failingBefore"] = item.unhealthy
    if getattr(item, "in_flight", False):
        doc["rollingOutAlready"] = True  # waited for, not restarted again
    return doc


def owner_document(change):
    """{"owner": ...} of a config change whose object has one, else {}: who owns it, what a
    switch does about it, and the change in its terms (the values a pull request sets)."""
    owner = change.owner
    if owner is None:
        return {}
    doc = {"kind": str(owner.kind), "name": owner.name, "treatment": owner.treatment.value}
    if owner.chart:
        doc["chart"] = owner.chart
    if owner.chart_version:
        doc["chartVersion"] = owner.chart_version
    if change.helm_value:
        literal = owners.values_literal(change.helm_value, change.new)
        doc["values"] = {change.helm_value: json.loads(literal)}
    if owner.kind is owners.Kind.HELM and change.helm_value:
        doc["command"] = owners.helm_upgrade(owner, change.helm_value, change.new)
    doc["todo"] = change.caveat()
    return {"owner": doc}


def plan_document(plan, findings=None):
    return {
        "target": _plain(plan.target),
        "configChanges": [
            {
                "object": c.describe().split(":")[0],
                "change": c.describe(),
                "from": c.old,
                "to": c.new,
                **owner_document(c),
            }
            for c in plan.config_changes
        ],
        "overrides": [_item_doc(o) for o in plan.overrides],
        "restarts": [_item_doc(r) for r in plan.restarts],
        "manual": [{"namespace": m.namespace, "what": m.what, "todo": m.todo} for m in plan.manual],
        "untouched": {
            "alreadyInTargetMode": plan.already,
            "outsideTheMesh": plan.outside,
            "unknownTarget": plan.unknown,
            "workloadsInOtherNamespaces": plan.elsewhere,
        },
        "accessRefused": [
            {
                "verb": p.verb,
                "group": p.group,
                "resource": p.plural,
                "namespace": p.namespace,
                "onMeshInstance": p.on_mesh_instance,
                "reason": reason,
            }
            for p, reason in (findings.refused if findings else [])
        ],
        **({"canary": _canary_doc(plan)} if plan.canary is not None else {}),
        **({"pins": [_item_doc(o) for o in plan.pins]} if plan.pins else {}),
    }


def _canary_doc(plan):
    found = plan.canary
    return {
        "source": "admission (dry-run create)",  # canary.SOURCE
        "workloads": found.probed,
        "dryRunCreates": found.creates,
        "requests": found.requests,
        "cantSwitch": [{"workload": str(ref), "reason": why} for ref, why in found.cant],
        "handling": found.handling,
        "skipped": list(found.skipped),
    }


def canary_text(context, found, target):
    """What the canary found (plan.CanaryFindings), said after the plan; context names the
    context where there are several."""
    where = f" in context {context}" if context else ""
    asked = (
        f"{found.probed} workload(s) tried through admission{where} "
        f"({found.creates} dry-run pod create(s), {found.requests} request(s))"
    )
    if not found.cant:
        what = f"in {target} mode" if target else "with a proxy that starts"
        return f"\nCanary: {asked}: every pod admitted {what}."
    done = {
        "refuse": "nothing will be written while any can't",
        "pin": "pinned to the old mode first (--pin-failed), the rest switched",
        "leave": "left as they are (--keep-going), the rest switched",
    }[found.handling]
    out = [f"\nCanary: {asked}: {len(found.cant)} can't be switched, {done}:"]
    table = [[ref.namespace, ref.short, why] for ref, why in found.cant]
    out.append(_indent(whole_table(["NAMESPACE", "WORKLOAD", "WHY"], table)))
    return "\n".join(out)


def plan_json(parts, refusals=()):
    """The plan as one document (switch/restart -o json with --dry-run or nothing to do), of
    every context ([(context, Plan, Findings or None)]). One context: the plan itself;
    several: one per context, and refusals, lines saying why the fleet as a whole was
    refused (contexts that disagree)."""
    doc: dict[str, object] = {"apiVersion": API_VERSION, "kind": "SwitchPlan"}
    if len(parts) == 1:
        _, plan, findings = parts[0]
        doc["plan"] = plan_document(plan, findings)
    else:
        doc["refused"] = list(refusals)
        doc["contexts"] = [
            {"context": name, "plan": plan_document(plan, findings)}
            for name, plan, findings in parts
        ]
    return json.dumps(doc, indent=2)


def outcome_json(parts, exit_code):
    """What a run did as one document (switch/restart -o json), in every context
    ([(context, Plan, Outcome)]). Several: per context, the plan and result; the exit code,
    the run's, is said once."""
    doc: dict[str, object] = {"apiVersion": API_VERSION, "kind": "SwitchResult"}
    if len(parts) == 1:
        _, plan, outcome = parts[0]
        doc["plan"] = plan_document(plan)
        doc["result"] = result_document(outcome, exit_code)
    else:
        doc["result"] = {"exitCode": exit_code}
        doc["contexts"] = [
            {
                "context": name,
                "plan": plan_document(plan),
                "result": result_document(outcome, None),
            }
            for name, plan, outcome in parts
        ]
    return json.dumps(doc, indent=2)


def _by_name(entry):
    """(ref, why) entries in the order of their refs as the document spells them."""
    ref, why = entry
    return (str(ref), why)


def result_document(outcome, exit_code):
    result = {
        "exitCode": exit_code,
        "configChanged": list(outcome.config_done),
        # Workloads finish in whatever order their rollouts do: sorted, a document is the same
        # for the same outcome.
        "rolledOut": sorted(map(str, outcome.succeeded)),
        "failed": [
            {"workload": str(ref), "reason": why, "refused": ref in outcome.refused}
            for ref, why in sorted(outcome.failed, key=_by_name)
        ],
        "notWaitedFor": [
            {"workload": str(ref), "failingBefore": why}
            for ref, why in sorted(outcome.not_waited, key=_by_name)
        ],
        "pinned": sorted(map(str, outcome.pinned)),
        "notStarted": list(map(str, outcome.not_started)),
        "interrupted": outcome.interrupted,
    }
    if exit_code is None:
        del result["exitCode"]  # a fleet's exit code is the run's, said once
    return result
