"""`kubectl sidecar status` for one context or several (a single context is a fleet of one):
read every context's pods a page at a time, print them as they come (table, wide, --summary,
json, yaml), tally them, and say what needs action. CONTEXT, per-context summary lines and
per-context errors appear only when several contexts were asked for.

status.py reads and assesses one context's pods; fleet.py reads several at once; render.py
makes the text. This module decides what goes where, through a Console, and returns the
number of pods that need action; the exit code is cli.py's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import NamedTuple

from kubectl_sidecar import fleet, render, status
from kubectl_sidecar.errors import InputError, SidecarError


class Options(NamedTuple):
    """How status shows what it reads, complete and validated before anything connects."""

    output: str = "table"  # table | wide | json | yaml
    no_headers: bool = False
    needs_restart: bool = False  # only the pods that need action
    namespace_summary: bool = False  # --summary: one line per namespace
    watch: bool = False
    exit_code: bool = False  # --exit-code: cli.py exits 1 when a pod needs action
    mesh: str = "auto"
    proxy_names: Mapping[str, str] = {}  # read, never written: one shared empty default
    probe: bool = False  # DESIRED from a dry-run create of each workload's pod (canary.py)

    @property
    def document(self):
        return self.output in ("json", "yaml")

    def validate(self, contexts=1):
        """InputError for a combination that can't run (contexts: how many were asked for)."""
        if self.watch and (self.document or self.namespace_summary):
            raise InputError(
                "--watch prints table rows: use it with -o table or wide, without --summary"
            )
        if self.watch and self.exit_code:
            raise InputError("--exit-code judges one look at the cluster: not with --watch")
        if self.watch and contexts > 1:
            raise InputError("--watch follows one context: not with several --context")
        return self


# Written out, not a dataclass, whose generated methods are compiled at every start of every
# command (BENCHMARKS.md, small cluster): never compared or printed.
class Console:
    """Where status talks: rows, documents and the summary to out (text as it is, newlines
    included); warnings, errors and "No resources found" to err (one line each)."""

    def __init__(self, out: Callable[[str], None], err: Callable[[str], None]):
        self.out = out
        self.err = err

    def warn(self, text, context=None):
        self.err("Warning: " + (f"context {context}: " if context else "") + text)


class ContextsNotRead(SidecarError):
    """Some contexts of a fleet could not be read: each already said so in its own line."""

    said = True

    def __init__(self, names):
        super().__init__(f"could not read context(s) {', '.join(names)}")


def run(members, scopes, options, console):
    """Show the status of every context (fleet.Members, one Scope each, in order); the number
    of pods that need action. With several contexts, one that can't be read is one line on
    stderr, the others are still shown, then ContextsNotRead (exit 1, or 3 with --exit-code)
    ends the command; a single context's error ends it at once."""
    several = len(members) > 1
    assessors = [
        status.Assessor(
            member.cluster,
            scope,
            options.mesh,
            member.mesh_cluster,
            lambda text, name=member.name: console.warn(text, name if several else None),
            probe=options.probe,
            proxy_names=options.proxy_names,
        )
        for member, scope in zip(members, scopes, strict=True)
    ]
    if options.document:
        return _document(members, assessors, options, console)
    return _table(members, scopes, assessors, options, console)


def _batches(members, assessors, proxy_names):
    """Every context's assessed rows as fleet.Batches, in the order given. One context is read
    in this thread, its errors raised as they are; several at once (fleet.stream)."""
    if len(members) > 1:
        yield from fleet.stream(members, assessors, proxy_names)
        return
    for rows in status.stream(assessors[0], proxy_names):
        yield fleet.Batch(members[0], rows)


def _table(members, scopes, assessors, options, console):
    """The table (or --summary) a page at a time, as kubectl prints it: the first lines appear
    at once and memory stays flat on clusters of any size; then the summary."""
    several = len(members) > 1
    all_namespaces = all(scope.all_namespaces for scope in scopes)
    # Without -n each context shows its own namespace: name it unless they are all one.
    one_namespace = len({scope.namespace for scope in scopes}) == 1 and not all_namespaces
    table = render.PodTable(
        not one_namespace,
        wide=options.output == "wide",
        no_headers=options.no_headers,
        contexts=several,
    )
    tallies = {member.name: status.Tally() for member in members}
    failed, shown = [], 0
    known = {}  # with --watch: what each pod's row said, to print only changes after
    for batch in _batches(members, assessors, options.proxy_names):
        name = batch.member.name
        if batch.error is not None:
            console.err(fleet.error_line(name, batch.error))
            failed.append(name)
            tallies.pop(name, None)
            continue
        if batch.done:
            continue
        tallies[name].add(batch.rows)
        if options.watch:
            from kubectl_sidecar.watch import known_state

            known.update(known_state(batch.rows))
        if options.namespace_summary:
            continue
        rows = batch.rows
        if options.needs_restart:
            rows = [row for row in rows if row.needs_restart]
        shown += len(rows)
        console.out(table.render(rows, name))
    whole = fleet.total(tallies)
    where = (
        "all namespaces"
        if all_namespaces
        else scopes[0].describe()
        if one_namespace
        else "each context's namespace"
    )
    where += f" of {len(tallies)} context(s)" if several else ""
    if not tallies:
        pass  # every context's error is already said
    elif not whole.pods:
        console.err(f"No resources found in {where}.")
    elif options.namespace_summary:
        console.out(
            render.namespace_summary(list(tallies.items()), options.no_headers, contexts=several)
        )
    elif not shown:
        console.err(f"No pods need action in {where}.")
    if not options.no_headers and tallies:
        parts = [
            (member.name, assessor.mesh_config(), tallies[member.name])
            for member, assessor in zip(members, assessors, strict=True)
            if member.name in tallies
        ]
        summary = render.summary_lines(parts, whole, failed)
        if options.watch:
            # kubectl get -w prints rows only: the summary goes to stderr, where status goes.
            console.err(summary)
        else:
            above = shown or (options.namespace_summary and whole.pods)
            console.out(("\n" if above else "") + summary + "\n")
    if options.watch:
        _watch(assessors[0], known, table, options, console)
    if failed:
        raise ContextsNotRead(failed)
    return whole.needs_action


def _watch(assessor, known, table, options, console):
    """status -w after the table: rows as pods change, until Ctrl-C (exit 0, as kubectl get -w)."""
    from kubectl_sidecar.errors import Terminated
    from kubectl_sidecar.watch import PodWatch

    follow = PodWatch(
        assessor,
        options.proxy_names,
        known,
        warn=console.warn,
        only_needing_action=options.needs_restart,
    )
    try:
        for row in follow.rows():
            console.out(table.render([row]))
    except Terminated:
        raise  # SIGTERM is not the user stopping the watch: exit 143 as any command does
    except KeyboardInterrupt:
        return


def _document(members, assessors, options, console):
    """-o json/yaml, written a page of items at a time as the pods come (render.StreamedDocument):
    memory stays flat however many pods, in one context or several. A fleet's items come as
    their contexts deliver them, so contexts may interleave; each item names its own. A context
    that fails midway keeps the items it already gave, and is named in `errors` after them."""
    several = len(members) > 1
    if several:
        meshes: dict = {}  # filled, in the order given, before the first item is written
        batches = _headed(
            fleet.stream(members, assessors, options.proxy_names, in_order=False),
            members,
            assessors,
            meshes,
        )
    else:
        batches = _batches(members, assessors, options.proxy_names)

    def head():
        if several:
            return render.status_head(meshes, several=True)
        return render.status_head({members[0].name: assessors[0].mesh_config()})

    document = render.StreamedDocument(options.output, console.out, head)
    tallies = {member.name: status.Tally() for member in members}
    errors: dict = {}
    for batch in batches:
        name = batch.member.name
        if batch.error is not None:
            console.err(fleet.error_line(name, batch.error))
            errors[name] = fleet.error_message(batch.error)
            tallies.pop(name)  # the summary counts the contexts read whole, as the table's
            continue
        if batch.done:
            continue
        tallies[name].add(batch.rows)
        document.add(
            render.item(row, name if several else None)
            for row in batch.rows
            if row.needs_restart or not options.needs_restart
        )
    whole = fleet.total(tallies)
    # Every context's, a failed one's too: its items that were written are what they are about.
    warnings = {
        member.name: list(assessor.warnings)
        for member, assessor in zip(members, assessors, strict=True)
    }
    document.finish(render.status_tail(tallies, whole, warnings, errors, several))
    if errors:
        raise ContextsNotRead(list(errors))
    return whole.needs_action


def _headed(batches, members, assessors, meshes):
    """A fleet's Batches (fleet.stream, not in order), held until every context has sent its
    first, which come before any second: then meshes ({context: MeshConfig}) holds every
    context that has read its mesh config, for the document's head, and they go on as they
    come. What is held is one Batch per context."""
    firsts = {}
    for batch in batches:
        firsts[batch.member.name] = batch
        if len(firsts) == len(members):
            break
    for member, assessor in zip(members, assessors, strict=True):
        if member.name in firsts and firsts[member.name].error is None:
            meshes[member.name] = assessor.mesh_config()  # read with the first page: no I/O
    for member in members:
        if member.name in firsts:
            yield firsts[member.name]
    yield from batches
