"""The click layer: flags -> plain options -> one call per command. The only place that exits.

Heavy modules (the kubernetes client, yaml) are imported inside the commands so that
`kubectl sidecar --help` starts instantly.
"""
import functools
import os
import sys

import click

from kubectl_sidecar import __version__

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
MESHES = ("auto", "asm", "istio", "linkerd", "consul")
OUTPUTS = ("table", "wide", "json", "yaml")
# Measured (BENCHMARKS.md, switch): the plugin costs the same at any concurrency; the limit is
# what restarting many workloads at once costs the cluster.
DEFAULT_CONCURRENCY = 5


def _timeout(ctx, param, value):
    from kubectl_sidecar.durations import parse_duration

    if value is None:
        return None
    return parse_duration(value, f"--{param.name.replace('_', '-')}") or None


def _contexts(ctx, param, value):
    """--context a --context b,c -> ("a", "b", "c"): each once, in the order given."""
    from kubectl_sidecar.errors import InputError

    names = []
    for text in value:
        for name in text.split(","):
            if not name.strip():
                raise InputError(f'--context "{text}": a context name is empty')
            if name.strip() not in names:
                names.append(name.strip())
    return tuple(names)


def connection_options(command):
    """kubectl's own connection and scope flags, spelled as kubectl spells them."""
    options = [
        click.option("--kubeconfig", metavar="PATH",
                     help="Path to the kubeconfig file (default: $KUBECONFIG, ~/.kube/config)."),
        click.option("--context", metavar="NAME", multiple=True, callback=_contexts,
                     help="The kubeconfig context to use; repeat it (or list several, "
                          "comma-separated) to work on a fleet of clusters."),
        click.option("-n", "--namespace", metavar="NS",
                     help="Namespace (default: the context's namespace)."),
        click.option("-A", "--all-namespaces", is_flag=True, help="All namespaces."),
        click.option("-l", "--selector", metavar="SELECTOR",
                     help="Label selector, e.g. -l app=cart,tier!=db."),
        click.option("--request-timeout", metavar="DURATION", callback=_timeout,
                     help="Give up on a single API request after this long (e.g. 30s; 0 = no limit)."),
        click.option("--mesh", type=click.Choice(MESHES), default="auto", show_default=True,
                     help="Which mesh's configuration decides the desired mode."),
        click.option("--mesh-context", metavar="NAME",
                     help="Context of the API server holding the mesh config (ASM: the ASM instance)."),
        click.option("--mesh-kubeconfig", metavar="PATH",
                     help="Kubeconfig for --mesh-context (default: --kubeconfig)."),
        click.option("--proxy-name", "proxy_names", metavar="NAME", multiple=True,
                     help="Treat containers with this name as a mesh proxy too (repeatable)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def handle_broken_pipe(function):
    """`kubectl sidecar status -A | head` should end quietly, as kubectl does."""
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except BrokenPipeError:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            sys.exit(1)
    return wrapper


@click.group(context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, "--version", prog_name="kubectl-sidecar")
def cli():
    """See and switch how the service-mesh proxy runs in each pod: as a native sidecar
    (an init container with restartPolicy: Always) or as a traditional extra container.

    \b
    Examples:
      kubectl sidecar status -A                 # every pod's mode, and what needs a restart
      kubectl sidecar status -A --summary       # one line per namespace
      kubectl sidecar status -n shop -o json    # the documented JSON contract
    """


class Connection:
    """The clusters one command talks to, from the connection flags."""

    def __init__(self, kubeconfig, context, request_timeout, mesh_context, mesh_kubeconfig):
        from kubectl_sidecar import kubeconfig as config

        self.cluster = config.connect(kubeconfig, context, request_timeout)
        self.mesh_cluster = None
        if mesh_context or mesh_kubeconfig:
            self.mesh_cluster = config.connect(
                mesh_kubeconfig or kubeconfig, mesh_context, request_timeout)

    @classmethod
    def from_flags(cls, flags):
        return cls(flags["kubeconfig"], (flags["context"] or (None,))[0],
                   flags["request_timeout"], flags["mesh_context"], flags["mesh_kubeconfig"])


def _fleet(flags):
    """With two or more --context: a fleet.Member per context, in the order given, all
    sharing one connection to --mesh-context (the ASM instance). None for one context."""
    from kubectl_sidecar import fleet
    from kubectl_sidecar import kubeconfig as config

    if len(flags["context"]) < 2:
        return None
    clusters = [config.connect(flags["kubeconfig"], name, flags["request_timeout"])
                for name in flags["context"]]
    mesh_cluster = None
    if flags["mesh_context"] or flags["mesh_kubeconfig"]:
        mesh_cluster = config.connect(flags["mesh_kubeconfig"] or flags["kubeconfig"],
                                      flags["mesh_context"], flags["request_timeout"])
    return [fleet.Member(name, cluster, mesh_cluster)
            for name, cluster in zip(flags["context"], clusters, strict=True)]


def _scope(connection, flags):
    """-n/-A/-l as a Scope; without either, the context's namespace, as kubectl does."""
    from kubectl_sidecar.status import Scope

    if flags["all_namespaces"]:
        return Scope(namespace=None, selector=flags["selector"])
    return Scope(namespace=flags["namespace"] or connection.cluster.namespace,
                 selector=flags["selector"])


@cli.command("status")
@connection_options
@click.option("-o", "--output", type=click.Choice(OUTPUTS), default="table", show_default=True,
              help="Output format. json/yaml follow the SidecarStatus contract in the README.")
@click.option("--no-headers", is_flag=True, help="Don't print headers or the summary line.")
@click.option("--needs-restart", is_flag=True,
              help="Only pods that need action to reach the mesh's configured mode.")
@click.option("--summary", "namespace_summary", is_flag=True,
              help="One line per namespace with pod counts per mode.")
@handle_broken_pipe
def status_command(output, no_headers, needs_restart, namespace_summary, **flags):
    """Show each pod's sidecar mode, the mode its mesh would inject now, and what to do.

    \b
    MODE is native, traditional, invalid (proxy in initContainers without
    restartPolicy: Always: the pod can't start), gateway (the proxy is the workload)
    or none. DESIRED comes from the mesh config (ASMMeshConfig, istiod's
    ENABLE_NATIVE_SIDECARS, linkerd-config, Consul's connect-injector flag) or the
    pod's override annotation.
    """
    from kubectl_sidecar import render, status
    from kubectl_sidecar.allocator import release_large_buffers

    release_large_buffers()
    members = _fleet(flags)
    if members:
        sys.exit(_fleet_status(members, flags, output, no_headers, needs_restart,
                               namespace_summary))
    connection = Connection.from_flags(flags)
    scope = _scope(connection, flags)
    custom_proxies = {name: "custom" for name in flags["proxy_names"]}
    mesh = flags["mesh"]
    if output in ("json", "yaml"):
        report = status.collect(connection.cluster, scope, mesh, connection.mesh_cluster,
                                custom_proxies)
        for warning in report.warnings:
            _warn(warning)
        rows = [row for row in report.rows if row.needs_restart] if needs_restart else None
        as_text = render.as_json if output == "json" else render.as_yaml
        click.echo(as_text(report, rows), nl=False)
        return

    # The table is printed a page at a time, as kubectl prints it: the first lines appear at
    # once and memory stays flat on clusters of any size.
    assessor = status.Assessor(connection.cluster, scope, mesh, connection.mesh_cluster, _warn)
    tally = status.Tally()
    table = render.PodTable(scope.all_namespaces, wide=output == "wide", no_headers=no_headers)
    shown = 0
    for batch in status.stream(assessor, custom_proxies):
        tally.add(batch)
        if namespace_summary:
            continue
        rows = [row for row in batch if row.needs_restart] if needs_restart else batch
        shown += len(rows)
        click.echo(table.render(rows), nl=False)
    if not tally.pods:
        click.echo(f"No resources found in {scope.describe()}.", err=True)
    elif namespace_summary:
        click.echo(render.namespace_summary(tally, no_headers), nl=False)
    elif not shown:
        click.echo(f"No pods need action in {scope.describe()}.", err=True)
    if not no_headers:
        above = shown or (namespace_summary and tally.pods)
        click.echo(("\n" if above else "") + render.summary_line(assessor.mesh_config(), tally))


def _warn(text):
    click.echo(f"Warning: {text}", err=True)


def _member_scope(member, flags):
    from kubectl_sidecar.status import Scope

    if flags["all_namespaces"]:
        return Scope(namespace=None, selector=flags["selector"])
    return Scope(namespace=flags["namespace"] or member.cluster.namespace,
                 selector=flags["selector"])


def _fleet_status(members, flags, output, no_headers, needs_restart, namespace_summary):
    """status over two or more contexts: the table with CONTEXT first, every context read at
    once and printed in the order given. A context that can't be read is one line on stderr;
    the others are still shown, and the exit code is 1."""
    from kubectl_sidecar import fleet, render, status

    scopes = [_member_scope(member, flags) for member in members]
    custom_proxies = {name: "custom" for name in flags["proxy_names"]}
    if output in ("json", "yaml"):
        results = fleet.collect(members, scopes, flags["mesh"], custom_proxies)
        reports = {name: r for name, r in results.items() if isinstance(r, status.Report)}
        errors = {name: r for name, r in results.items() if not isinstance(r, status.Report)}
        for name, report in reports.items():
            for warning in report.warnings:
                _warn(f"context {name}: {warning}")
        for name, error in errors.items():
            click.echo(fleet.error_line(name, error), err=True)
        whole = fleet.total({name: report.tally() for name, report in reports.items()})
        messages = {name: fleet.error_message(error) for name, error in errors.items()}
        click.echo(render.dump(render.fleet_document(reports, whole, messages, needs_restart),
                               output), nl=False)
        return 1 if errors else 0

    assessors = [
        status.Assessor(member.cluster, scope, flags["mesh"], member.mesh_cluster,
                        lambda text, name=member.name: _warn(f"context {name}: {text}"))
        for member, scope in zip(members, scopes, strict=True)]
    all_namespaces = all(scope.all_namespaces for scope in scopes)
    table = render.PodTable(all_namespaces, wide=output == "wide", no_headers=no_headers,
                            contexts=True)
    tallies, failed, shown = {}, [], 0
    for batch in fleet.stream(members, assessors, custom_proxies):
        name = batch.member.name
        if batch.error is not None:
            click.echo(fleet.error_line(name, batch.error), err=True)
            failed.append(name)
            tallies.pop(name, None)
            continue
        tally = tallies.setdefault(name, status.Tally())
        if batch.done:
            continue
        tally.add(batch.rows)
        if namespace_summary:
            continue
        rows = [row for row in batch.rows if row.needs_restart] if needs_restart else batch.rows
        shown += len(rows)
        click.echo(table.render(rows, name), nl=False)
    whole = fleet.total(tallies)
    where = "all namespaces" if all_namespaces else "the namespaces chosen"
    if not tallies:
        pass  # every context's error is already said
    elif not whole.pods:
        click.echo(f"No resources found in {where} of {len(tallies)} context(s).", err=True)
    elif namespace_summary:
        click.echo(render.fleet_namespace_summary(list(tallies.items()), no_headers), nl=False)
    elif not shown:
        click.echo(f"No pods need action in {where} of {len(tallies)} context(s).", err=True)
    if not no_headers and tallies:
        above = shown or (namespace_summary and whole.pods)
        parts = [(member.name, assessor.mesh_config(), tallies[member.name])
                 for member, assessor in zip(members, assessors, strict=True)
                 if member.name in tallies]
        click.echo(("\n" if above else "")
                   + render.fleet_summary_lines(parts, whole, failed))
    return 1 if failed else 0


def _run_options(command):
    """Flags shared by switch and restart: how carefully to change the cluster."""
    options = [
        click.option("--dry-run", type=click.Choice(["none", "client", "server"]), default="none",
                     is_flag=False, flag_value="client",
                     help="Only print the plan (client), or also send every write with the API's "
                          "dryRun=All (server). Bare --dry-run means client."),
        click.option("-y", "--yes", is_flag=True, help="Don't ask for confirmation."),
        click.option("--concurrency", type=click.IntRange(1, 50), default=DEFAULT_CONCURRENCY,
                     show_default=True, help="Workloads restarted and waited for at a time."),
        click.option("--timeout", default="10m", show_default=True, metavar="DURATION",
                     callback=_timeout,
                     help="Give up waiting for one workload's rollout after this long, as "
                          "kubectl rollout status --timeout does (0 = no limit). A run over "
                          "many workloads takes as long as their rollouts need."),
        click.option("--keep-going", is_flag=True,
                     help="Don't stop starting restarts after a failed rollout; report every "
                          "failure at the end."),
        click.option("--skip-unhealthy", is_flag=True,
                     help="Don't restart workloads that were already failing (by default they "
                          "are restarted but not waited for)."),
        click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text",
                     show_default=True,
                     help="json: the plan (with --dry-run) or the outcome as one document on "
                          "stdout; the human report goes to stderr."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _stdin_is_terminal():
    return sys.stdin.isatty()


def _console(output="text"):
    from kubectl_sidecar.errors import InputError
    from kubectl_sidecar.progress import Board
    from kubectl_sidecar.switch import Console

    def confirm():
        if not _stdin_is_terminal():
            raise InputError("refusing to change the cluster without --yes: stdin is not a "
                             "terminal (--dry-run shows the plan without changing anything)")
        return click.confirm("Apply this plan?", default=False, err=True)

    board = Board(sys.stderr) if sys.stderr.isatty() else None
    return Console(out=click.echo, err=lambda text: click.echo(text, err=True), confirm=confirm,
                   board=board)


def _run_settings(flags, target=None, workloads=(), force=False, no_restart=False,
                  pin_failed=False):
    """switch's and restart's flags as one validated switch.Options; raises InputError on a
    combination that can't run, before anything connects."""
    from kubectl_sidecar import switch
    from kubectl_sidecar.errors import InputError

    refs = [switch.parse_workload(text) for text in workloads]
    if refs and flags["selector"]:
        raise InputError("name workloads or use -l, not both")
    if no_restart and (refs or flags["selector"]):
        raise InputError("--no-restart applies to a mesh-wide switch only")
    if pin_failed and (refs or flags["selector"]):
        raise InputError("--pin-failed applies to a mesh-wide switch only")
    mesh_wide = target is not None and not refs and not flags["selector"]
    return switch.Options(
        target=target, workloads=refs, mesh=flags["mesh"],
        proxy_names={name: "custom" for name in flags["proxy_names"]},
        dry_run=None if flags["dry_run"] == "none" else flags["dry_run"], yes=flags["yes"],
        force=force, no_restart=no_restart, concurrency=flags["concurrency"],
        timeout=flags["timeout"], keep_going=flags["keep_going"], pin_failed=pin_failed,
        skip_unhealthy=flags["skip_unhealthy"], output=flags["output"],
        restart_namespace=(flags["namespace"] if mesh_wide and not flags["all_namespaces"]
                           else None))


@cli.command("switch")
@click.argument("workloads", nargs=-1, metavar="[WORKLOAD]...")
@click.option("--native", "to_native", is_flag=True, help="Switch to native sidecars.")
@click.option("--traditional", "to_traditional", is_flag=True,
              help="Switch to traditional sidecars.")
@connection_options
@_run_options
@click.option("--force", is_flag=True,
              help="Switch to native even when the API server or a kubelet is older than 1.29, "
                   "or Consul's injector can't inject native (never when the switch would stop "
                   "it from starting).")
@click.option("--no-restart", is_flag=True,
              help="Only change the mesh config; print the restart command to run later.")
@click.option("--pin-failed", is_flag=True,
              help="Pin workloads whose rollout failed after the switch back to the old mode "
                   "with the mesh's per-workload annotation.")
def switch_command(workloads, to_native, to_traditional, force, no_restart, pin_failed, **flags):
    """Switch the mesh (or some workloads) to native or traditional sidecars, then restart
    exactly the workloads whose pods are in the other mode, wait for them, and verify.

    \b
    Without WORKLOAD: change the mesh config (ASMMeshConfig, istiod's
    ENABLE_NATIVE_SIDECARS, Linkerd namespace annotations, Consul's connect-injector
    flag) and restart affected workloads in all namespaces (limit the restarts with -n).
    With WORKLOAD (deployment/cart) or -l: pin the mode on those workloads only,
    with the mesh's pod-template annotation; the mesh config is left alone.

    \b
    Examples:
      kubectl sidecar switch --traditional --dry-run
      kubectl sidecar switch --traditional --mesh-context asm-instance --yes
      kubectl sidecar switch --traditional deployment/cart -n shop
    """
    from kubectl_sidecar import switch
    from kubectl_sidecar.errors import InputError

    if to_native == to_traditional:
        raise InputError("say exactly one of --native or --traditional")
    options = _run_settings(flags, "native" if to_native else "traditional", workloads, force,
                            no_restart, pin_failed)
    members = _fleet(flags)
    if members:
        from kubectl_sidecar import fleet

        if options.workloads or flags["selector"]:
            scopes = [_member_scope(member, flags) for member in members]
            sys.exit(fleet.switch_workloads(members, scopes, options, _console()))
        sys.exit(fleet.switch_mesh(members, options, _console()))
    connection = Connection.from_flags(flags)
    if options.workloads or flags["selector"]:
        scope = _scope(connection, flags)
        code = switch.switch_workloads(connection.cluster, connection.mesh_cluster, scope, options,
                                       _console())
    else:
        # The config change is mesh-wide, so by default so are the restarts.
        code = switch.switch_mesh(connection.cluster, connection.mesh_cluster, options, _console())
    sys.exit(code)


@cli.command("restart")
@connection_options
@_run_options
def restart_command(**flags):
    """Restart only the workloads whose pods differ from the mode the mesh is configured
    for (after a config change made elsewhere, e.g. through GitOps), wait, and verify.
    """
    from kubectl_sidecar import switch

    options = _run_settings(flags)
    members = _fleet(flags)
    if members:
        from kubectl_sidecar import fleet

        scopes = [_member_scope(member, flags) for member in members]
        sys.exit(fleet.restart(members, scopes, options, _console()))
    connection = Connection.from_flags(flags)
    sys.exit(switch.restart(connection.cluster, connection.mesh_cluster,
                            _scope(connection, flags), options, _console()))


REQUIRED_PACKAGES = ("click", "kubernetes", "yaml", "urllib3")


def main():
    import signal

    from kubectl_sidecar.errors import InputError, Terminated, show_usage_error

    def terminate(signum, frame):
        raise Terminated

    # SIGTERM ends a run like Ctrl-C does (report what was done), not silently mid-change.
    signal.signal(signal.SIGTERM, terminate)
    try:
        code = cli.main(prog_name="kubectl sidecar", standalone_mode=False)
    except InputError as error:
        error.show()
        code = error.exit_code
    except click.UsageError as error:
        show_usage_error(error)
        code = error.exit_code
    except click.ClickException as error:
        error.show()
        code = error.exit_code
    except Terminated:
        click.echo("Terminated.", err=True)
        code = 143
    except (KeyboardInterrupt, click.Abort):
        click.echo("Interrupted.", err=True)
        code = 130
    except ModuleNotFoundError as error:
        # Run from a checkout or krew archive by a python3 without our dependencies.
        if error.name not in REQUIRED_PACKAGES:
            raise
        from kubectl_sidecar import missing_package_message

        sys.stderr.write(missing_package_message(error.name, sys.executable) + "\n")
        code = 1
    sys.exit(code if isinstance(code, int) else 0)
