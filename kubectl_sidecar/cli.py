"""The click layer: flags -> plain options -> one call per command. The only place that exits.

Heavy modules (the kubernetes client, yaml) are imported inside the commands so that
`kubectl sidecar --help` starts instantly.
"""

import functools
import sys

import click

from kubectl_sidecar.errors import Error, InputError, SidecarError, usage_line
from kubectl_sidecar.meshes.registry import CHOICES, on_mesh_instance_titles

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
MESHES = ("auto",) + CHOICES
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


def _complete(name):
    """A completion callback from completion.py, imported only when completing: `--help` and
    every command stay fast."""

    def complete(ctx, param, incomplete):
        from kubectl_sidecar import completion

        return getattr(completion, name)(ctx, param, incomplete)

    return complete


def connection_options(command):
    """kubectl's own connection and scope flags, spelled as kubectl spells them (cli-runtime's
    ConfigFlags), then ours for where the mesh config lives.

    The flags that say which API server and which credentials (--server, --token, --cluster,
    --user, the TLS files) apply to the main connection only; --mesh-context names its own.
    Who we act as (--as, --as-group, --as-uid), --request-timeout and --disable-compression
    apply to both connections, as they would to two kubectl commands run with them.
    """
    options = [
        click.option(
            "--kubeconfig",
            metavar="PATH",
            type=click.Path(dir_okay=False),
            help="Path to the kubeconfig file (default: $KUBECONFIG, ~/.kube/config).",
        ),
        click.option(
            "--context",
            metavar="NAME",
            multiple=True,
            callback=_contexts,
            shell_complete=_complete("contexts"),
            help="The kubeconfig context to use; repeat it (or list several, "
            "comma-separated) to work on a fleet of clusters.",
        ),
        click.option(
            "-n",
            "--namespace",
            metavar="NS",
            shell_complete=_complete("namespaces"),
            help="Namespace (default: the context's namespace).",
        ),
        click.option("-A", "--all-namespaces", is_flag=True, help="All namespaces."),
        click.option(
            "-l",
            "--selector",
            metavar="SELECTOR",
            help="Label selector, e.g. -l app=cart,tier!=db.",
        ),
        click.option(
            "--request-timeout",
            metavar="DURATION",
            callback=_timeout,
            help="Give up on a single API request after this long (e.g. 30s; 0 = no limit).",
        ),
        click.option(
            "--cluster",
            metavar="NAME",
            shell_complete=_complete("clusters"),
            help="The name of the kubeconfig cluster to use (main connection).",
        ),
        click.option(
            "--user",
            metavar="NAME",
            shell_complete=_complete("users"),
            help="The name of the kubeconfig user to use (main connection).",
        ),
        click.option(
            "-s",
            "--server",
            metavar="URL",
            help="The address and port of the Kubernetes API server (main connection; "
            "no kubeconfig needed with it).",
        ),
        click.option(
            "--token",
            metavar="TOKEN",
            help="Bearer token for authentication to the API server (main connection).",
        ),
        click.option(
            "--certificate-authority",
            metavar="PATH",
            type=click.Path(dir_okay=False),
            help="Path to a cert file for the certificate authority (main connection).",
        ),
        click.option(
            "--client-certificate",
            metavar="PATH",
            type=click.Path(dir_okay=False),
            help="Path to a client certificate file for TLS (main connection).",
        ),
        click.option(
            "--client-key",
            metavar="PATH",
            type=click.Path(dir_okay=False),
            help="Path to a client key file for TLS (main connection).",
        ),
        click.option(
            "--insecure-skip-tls-verify",
            is_flag=True,
            help="Don't check the server's certificate: insecure (main connection).",
        ),
        click.option(
            "--tls-server-name",
            metavar="NAME",
            help="Server name to use for server certificate validation (main "
            "connection; default: the server's host name).",
        ),
        click.option(
            "--as",
            "as_user",
            metavar="USER",
            help="Username to impersonate for the operation (a user or "
            "system:serviceaccount:NS:NAME; both connections).",
        ),
        click.option(
            "--as-group",
            "as_groups",
            metavar="GROUP",
            multiple=True,
            help="Group to impersonate for the operation (repeatable; both connections).",
        ),
        click.option(
            "--as-uid",
            metavar="UID",
            help="UID to impersonate for the operation (both connections).",
        ),
        click.option(
            "--disable-compression",
            is_flag=True,
            help="Opt out of response compression for all requests to the server.",
        ),
        click.option(
            "--mesh",
            type=click.Choice(MESHES),
            default="auto",
            show_default=True,
            help="Which mesh's configuration decides the desired mode.",
        ),
        click.option(
            "--mesh-context",
            metavar="NAME",
            shell_complete=_complete("contexts"),
            help="Context of the API server holding the mesh config "
            f"({on_mesh_instance_titles()}: the {on_mesh_instance_titles()} instance).",
        ),
        click.option(
            "--mesh-kubeconfig",
            metavar="PATH",
            type=click.Path(dir_okay=False),
            help="Kubeconfig for --mesh-context (default: --kubeconfig).",
        ),
        click.option(
            "--proxy-name",
            "proxy_names",
            metavar="NAME",
            multiple=True,
            help="Treat containers with this name as a mesh proxy too (repeatable).",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def handle_broken_pipe(function):
    """`kubectl sidecar status -A | head` ends quietly with 141, as kubectl does (SIGPIPE)."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        from kubectl_sidecar.output import SIGPIPE_EXIT, is_broken_pipe, silence

        try:
            return function(*args, **kwargs)
        except OSError as error:
            if not is_broken_pipe(error):
                raise
            silence(sys.stdout)
            sys.exit(SIGPIPE_EXIT)

    return wrapper


class Shown(click.ClickException):
    """One of our errors as click's, so that click (and main) print it and exit with its code."""

    def __init__(self, error):
        super().__init__(error.format_message())
        self.error = error
        self.exit_code = int(error.exit_code)

    def show(self, file=None):
        if self.error.said:
            return
        if isinstance(self.error, InputError):
            click.echo(usage_line(self.message), err=True)
        else:
            click.echo(f"error: {self.message}", err=True)


class Commands(click.Group):
    """The command group, mapping our errors (errors.py, which knows no click) to click's."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except Error as error:
            raise Shown(error) from error


@click.group(cls=Commands, context_settings=CONTEXT_SETTINGS)
@click.option(
    "--version",
    is_flag=True,
    is_eager=True,
    expose_value=False,
    callback=lambda ctx, param, value: _show_version(ctx, value),
    help="Show the version and build details, then exit.",
)
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

    def __init__(
        self, kubeconfig, context, request_timeout, mesh_context, mesh_kubeconfig, overrides=None
    ):
        from kubectl_sidecar import kubeconfig as config

        overrides = overrides or config.Overrides()
        self.cluster = config.connect(kubeconfig, context, request_timeout, overrides)
        self.mesh_cluster = None
        if mesh_context or mesh_kubeconfig:
            self.mesh_cluster = config.connect(
                mesh_kubeconfig or kubeconfig, mesh_context, request_timeout, overrides.for_mesh()
            )

    @classmethod
    def from_flags(cls, flags):
        return cls(
            flags["kubeconfig"],
            first_context(flags),
            flags["request_timeout"],
            flags["mesh_context"],
            flags["mesh_kubeconfig"],
            overrides_from(flags),
        )


def first_context(params):
    """The one --context (None: the current context). --context is a tuple of names since it
    may name a fleet; completion passes what click has parsed so far."""
    names = params.get("context") or (None,)
    return names[0] if isinstance(names, (tuple, list)) else names


def _fleet(flags):
    """With two or more --context: a fleet.Member per context, in the order given, all
    sharing one connection to --mesh-context (the ASM instance). None for one context.

    Who we act as and how we talk (--as, --disable-compression) apply to every context; the
    flags that pick one API server and its credentials (--server, --token, --cluster, ...)
    can't apply to several.
    """
    from kubectl_sidecar import fleet
    from kubectl_sidecar import kubeconfig as config
    from kubectl_sidecar.errors import InputError

    if len(flags["context"]) < 2:
        return None
    overrides = overrides_from(flags)
    shared = overrides.for_mesh()
    if overrides != shared:
        raise InputError(
            "--cluster, --user, --server, --token and the TLS flags choose one API "
            "server and its credentials: not with several --context (give each "
            "cluster a kubeconfig context)"
        )
    clusters = [
        config.connect(flags["kubeconfig"], name, flags["request_timeout"], shared)
        for name in flags["context"]
    ]
    mesh_cluster = None
    if flags["mesh_context"] or flags["mesh_kubeconfig"]:
        mesh_cluster = config.connect(
            flags["mesh_kubeconfig"] or flags["kubeconfig"],
            flags["mesh_context"],
            flags["request_timeout"],
            shared,
        )
    return [
        fleet.Member(name, cluster, mesh_cluster)
        for name, cluster in zip(flags["context"], clusters, strict=True)
    ]


def overrides_from(flags):
    """kubectl's connection flags as kubeconfig.Overrides. Missing flags count as not given:
    completion passes what click has parsed of a half-typed command line."""
    from kubectl_sidecar.kubeconfig import Overrides

    return Overrides(
        cluster=flags.get("cluster"),
        user=flags.get("user"),
        server=flags.get("server"),
        token=flags.get("token"),
        certificate_authority=flags.get("certificate_authority"),
        client_certificate=flags.get("client_certificate"),
        client_key=flags.get("client_key"),
        insecure_skip_tls_verify=bool(flags.get("insecure_skip_tls_verify")),
        tls_server_name=flags.get("tls_server_name"),
        as_user=flags.get("as_user"),
        as_groups=tuple(flags.get("as_groups") or ()),
        as_uid=flags.get("as_uid"),
        disable_compression=bool(flags.get("disable_compression")),
    )


def _scope(cluster, flags):
    """-n/-A/-l as a Scope; without either, the context's namespace, as kubectl does."""
    from kubectl_sidecar.status import Scope

    if flags["all_namespaces"]:
        return Scope(namespace=None, selector=flags["selector"])
    return Scope(namespace=flags["namespace"] or cluster.namespace, selector=flags["selector"])


def _members(flags):
    """The contexts switch and restart work in: a fleet.Member per --context, or one for the
    one context (a single context is a fleet of one)."""
    from kubectl_sidecar import fleet

    members = _fleet(flags)
    if members:
        return members
    connection = Connection.from_flags(flags)
    return [fleet.Member(connection.cluster.context, connection.cluster, connection.mesh_cluster)]


@cli.command("status", short_help="Show each pod's sidecar mode and what needs a restart.")
@connection_options
@click.option(
    "-o",
    "--output",
    type=click.Choice(OUTPUTS),
    default="table",
    show_default=True,
    help="Output format. json/yaml follow the SidecarStatus contract in the README.",
)
@click.option("--no-headers", is_flag=True, help="Don't print headers or the summary line.")
@click.option(
    "--needs-restart",
    is_flag=True,
    help="Only pods that need action to reach the mesh's configured mode.",
)
@click.option(
    "--summary",
    "namespace_summary",
    is_flag=True,
    help="One line per namespace with pod counts per mode.",
)
@click.option(
    "-w",
    "--watch",
    is_flag=True,
    help="After the table, print a row whenever a pod appears or changes mode or "
    "action (as kubectl get -w); Ctrl-C to stop.",
)
@click.option(
    "--exit-code",
    is_flag=True,
    help="Exit 1 when any pod in scope needs action, 0 when the mesh has converged "
    "(as kubectl diff); 3 when it can't be told (an error talking to the cluster).",
)
@handle_broken_pipe
def status_command(output, no_headers, needs_restart, namespace_summary, watch, exit_code, **flags):
    """Show each pod's sidecar mode, the mode its mesh would inject now, and what to do.

    \b
    MODE is native, traditional, invalid (proxy in initContainers without
    restartPolicy: Always: the pod can't start), gateway (the proxy is the workload)
    or none. DESIRED comes from the mesh config (ASMMeshConfig, istiod's
    ENABLE_NATIVE_SIDECARS, linkerd-config, Consul's connect-injector flag, Kuma's
    KUMA_EXPERIMENTAL_SIDECAR_CONTAINERS) or the pod's override annotation.

    \b
    Exit codes with --exit-code: 0 nothing needs action, 1 some pod does,
    2 bad input, 3 an error talking to the cluster.
    """
    from kubectl_sidecar.errors import InputError, SidecarError

    if watch and (output in ("json", "yaml") or namespace_summary):
        raise InputError(
            "--watch prints table rows: use it with -o table or wide, without --summary"
        )
    if watch and exit_code:
        raise InputError("--exit-code judges one look at the cluster: not with --watch")
    if watch and len(flags["context"]) > 1:
        raise InputError("--watch follows one context: not with several --context")
    try:
        needing_action = _status(output, no_headers, needs_restart, namespace_summary, watch, flags)
    except SidecarError as error:
        if exit_code:
            # As kubectl diff: 1 means "differences", so an error must not look like one.
            error.exit_code = 3
        raise
    if exit_code and needing_action:
        sys.exit(1)


def _status(output, no_headers, needs_restart, namespace_summary, watch, flags):
    """Print the status; the number of pods that need action."""
    from kubectl_sidecar import render, status
    from kubectl_sidecar.allocator import release_large_buffers

    release_large_buffers()
    members = _fleet(flags)
    if members:
        return _fleet_status(members, flags, output, no_headers, needs_restart, namespace_summary)
    connection = Connection.from_flags(flags)
    scope = _scope(connection.cluster, flags)
    custom_proxies = {name: "custom" for name in flags["proxy_names"]}
    mesh = flags["mesh"]
    if output in ("json", "yaml"):
        # Streamed a page at a time as the table is: flat memory on clusters of any size.
        assessor = status.Assessor(connection.cluster, scope, mesh, connection.mesh_cluster, _warn)
        tally = status.Tally()
        document = render.StreamedDocument(
            output,
            lambda text: click.echo(text, nl=False),
            lambda: render.status_head(assessor.mesh_config()),
        )
        for batch in status.stream(assessor, custom_proxies):
            tally.add(batch)
            document.add(
                render.item(row) for row in batch if row.needs_restart or not needs_restart
            )
        document.finish({"summary": tally.summary(), "warnings": list(assessor.warnings)})
        return tally.needs_action

    # The table is printed a page at a time, as kubectl prints it: the first lines appear at
    # once and memory stays flat on clusters of any size.
    assessor = status.Assessor(connection.cluster, scope, mesh, connection.mesh_cluster, _warn)
    tally = status.Tally()
    table = render.PodTable(scope.all_namespaces, wide=output == "wide", no_headers=no_headers)
    shown = 0
    known = {}  # with --watch: what each pod's row said, to print only changes after
    for batch in status.stream(assessor, custom_proxies):
        tally.add(batch)
        if watch:
            from kubectl_sidecar.watch import known_state

            known.update(known_state(batch))
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
    if watch:
        # kubectl get -w prints rows only: the summary goes to stderr, where status goes.
        if not no_headers:
            click.echo(render.summary_line(assessor.mesh_config(), tally), err=True)
        _watch(assessor, custom_proxies, known, table, needs_restart)
    elif not no_headers:
        above = shown or (namespace_summary and tally.pods)
        click.echo(("\n" if above else "") + render.summary_line(assessor.mesh_config(), tally))
    return tally.needs_action


def _watch(assessor, proxy_names, known, table, needs_restart):
    """status -w after the table: rows as pods change, until Ctrl-C (exit 0, as kubectl get -w)."""
    from kubectl_sidecar.errors import Terminated
    from kubectl_sidecar.watch import PodWatch

    follow = PodWatch(assessor, proxy_names, known, warn=_warn, only_needing_action=needs_restart)
    try:
        for row in follow.rows():
            click.echo(table.render([row]), nl=False)
    except Terminated:
        raise  # SIGTERM is not the user stopping the watch: exit 143 as any command does
    except KeyboardInterrupt:
        return


def _warn(text):
    click.echo(f"Warning: {text}", err=True)


class ContextsNotRead(SidecarError):
    """Some contexts of a fleet could not be read: each already said so in its own line."""

    def __init__(self, names):
        super().__init__(f"could not read context(s) {', '.join(names)}")

    said = True


def _fleet_status(members, flags, output, no_headers, needs_restart, namespace_summary):
    """status over two or more contexts: the table with CONTEXT first, every context read at
    once and printed in the order given; the number of pods that need action. A context that
    can't be read is one line on stderr; the others are still shown, then ContextsNotRead
    (exit 1, or 3 with --exit-code) ends the command."""
    from kubectl_sidecar import fleet, render, status

    scopes = [_scope(member.cluster, flags) for member in members]
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
        click.echo(
            render.dump(render.fleet_document(reports, whole, messages, needs_restart), output),
            nl=False,
        )
        if errors:
            raise ContextsNotRead(list(errors))
        return whole.needs_action

    assessors = [
        status.Assessor(
            member.cluster,
            scope,
            flags["mesh"],
            member.mesh_cluster,
            lambda text, name=member.name: _warn(f"context {name}: {text}"),
        )
        for member, scope in zip(members, scopes, strict=True)
    ]
    all_namespaces = all(scope.all_namespaces for scope in scopes)
    # Without -n each context shows its own namespace: name it unless they are all one.
    one_namespace = len({scope.namespace for scope in scopes}) == 1 and not all_namespaces
    table = render.PodTable(
        not one_namespace, wide=output == "wide", no_headers=no_headers, contexts=True
    )
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
    where = (
        "all namespaces"
        if all_namespaces
        else scopes[0].describe()
        if one_namespace
        else "each context's namespace"
    )
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
        parts = [
            (member.name, assessor.mesh_config(), tallies[member.name])
            for member, assessor in zip(members, assessors, strict=True)
            if member.name in tallies
        ]
        click.echo(("\n" if above else "") + render.fleet_summary_lines(parts, whole, failed))
    if failed:
        raise ContextsNotRead(failed)
    return whole.needs_action


def _run_options(command):
    """Flags shared by switch and restart: how carefully to change the cluster."""
    options = [
        click.option(
            "--dry-run",
            type=click.Choice(["none", "client", "server"]),
            default="none",
            is_flag=False,
            flag_value="client",
            help="Only print the plan (client), or also send every write with the API's "
            "dryRun=All (server). Bare --dry-run means client.",
        ),
        click.option("-y", "--yes", is_flag=True, help="Don't ask for confirmation."),
        click.option(
            "--concurrency",
            type=click.IntRange(1, 50),
            default=DEFAULT_CONCURRENCY,
            show_default=True,
            help="Workloads restarted and waited for at a time.",
        ),
        click.option(
            "--timeout",
            default="10m",
            show_default=True,
            metavar="DURATION",
            callback=_timeout,
            help="Give up waiting for one workload's rollout after this long, as "
            "kubectl rollout status --timeout does (0 = no limit). A run over "
            "many workloads takes as long as their rollouts need.",
        ),
        click.option(
            "--keep-going",
            is_flag=True,
            help="Don't stop starting restarts after a failed rollout; report every "
            "failure at the end.",
        ),
        click.option(
            "--skip-unhealthy",
            is_flag=True,
            help="Don't restart workloads that were already failing (by default they "
            "are restarted but not waited for).",
        ),
        click.option(
            "-o",
            "--output",
            type=click.Choice(["text", "json"]),
            default="text",
            show_default=True,
            help="json: the plan (with --dry-run) or the outcome as one document on "
            "stdout; the human report goes to stderr.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _stdin_is_terminal():
    return sys.stdin.isatty()


def _console(output="text"):
    from kubectl_sidecar.errors import InputError
    from kubectl_sidecar.output import Survivor
    from kubectl_sidecar.progress import Board
    from kubectl_sidecar.switch import Console

    def confirm():
        if not _stdin_is_terminal():
            raise InputError(
                "refusing to change the cluster without --yes: stdin is not a "
                "terminal (--dry-run shows the plan without changing anything)"
            )
        return click.confirm("Apply this plan?", default=False, err=True)

    # A run that changes the cluster goes on to its end whatever happens to its output.
    out, err = Survivor(sys.stdout), Survivor(sys.stderr)
    board = Board(err) if sys.stderr.isatty() else None
    return Console(
        out=lambda text: click.echo(text, file=out),
        err=lambda text: click.echo(text, file=err),
        confirm=confirm,
        board=board,
    )


def _run_settings(
    flags, target=None, workloads=(), force=False, no_restart=False, pin_failed=False
):
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
        target=target,
        workloads=refs,
        mesh=flags["mesh"],
        proxy_names={name: "custom" for name in flags["proxy_names"]},
        dry_run=None if flags["dry_run"] == "none" else flags["dry_run"],
        yes=flags["yes"],
        force=force,
        no_restart=no_restart,
        concurrency=flags["concurrency"],
        timeout=flags["timeout"],
        keep_going=flags["keep_going"],
        pin_failed=pin_failed,
        skip_unhealthy=flags["skip_unhealthy"],
        output=flags["output"],
        restart_namespace=(
            flags["namespace"] if mesh_wide and not flags["all_namespaces"] else None
        ),
    )


@cli.command("switch", short_help="Switch the mesh or workloads to native or traditional sidecars.")
@click.argument(
    "workloads", nargs=-1, metavar="[WORKLOAD]...", shell_complete=_complete("workloads")
)
@click.option("--native", "to_native", is_flag=True, help="Switch to native sidecars.")
@click.option(
    "--traditional", "to_traditional", is_flag=True, help="Switch to traditional sidecars."
)
@connection_options
@_run_options
@click.option(
    "--force",
    is_flag=True,
    help="Switch to native even when the API server or a kubelet is older than 1.29, "
    "or the mesh's injector can't inject native (never when the switch would stop "
    "it from starting).",
)
@click.option(
    "--no-restart",
    is_flag=True,
    help="Only change the mesh config; print the restart command to run later.",
)
@click.option(
    "--pin-failed",
    is_flag=True,
    help="Pin workloads whose rollout failed after the switch back to the old mode "
    "with the mesh's per-workload annotation.",
)
def switch_command(workloads, to_native, to_traditional, force, no_restart, pin_failed, **flags):
    """Switch the mesh (or some workloads) to native or traditional sidecars, then restart
    exactly the workloads whose pods are in the other mode, wait for them, and verify.

    \b
    Without WORKLOAD: change the mesh config (ASMMeshConfig, istiod's
    ENABLE_NATIVE_SIDECARS, Linkerd namespace annotations, Consul's connect-injector
    flag, kuma-cp's KUMA_EXPERIMENTAL_SIDECAR_CONTAINERS) and restart affected
    workloads in all namespaces (limit the restarts with -n).
    With WORKLOAD (deployment/cart) or -l: pin the mode on those workloads only,
    with the mesh's pod-template annotation; the mesh config is left alone.

    \b
    Examples:
      kubectl sidecar switch --traditional --dry-run
      kubectl sidecar switch --traditional --mesh-context asm-instance --yes
      kubectl sidecar switch --traditional deployment/cart -n shop
    """
    from kubectl_sidecar import switch
    from kubectl_sidecar.allocator import release_large_buffers
    from kubectl_sidecar.errors import InputError

    release_large_buffers()
    if to_native == to_traditional:
        raise InputError("say exactly one of --native or --traditional")
    options = _run_settings(
        flags, "native" if to_native else "traditional", workloads, force, no_restart, pin_failed
    )
    members = _members(flags)
    if options.workloads or flags["selector"]:
        scopes = [_scope(member.cluster, flags) for member in members]
        sys.exit(switch.switch_workloads(members, scopes, options, _console()))
    # The config change is mesh-wide, so by default so are the restarts.
    sys.exit(switch.switch_mesh(members, options, _console()))


@cli.command("restart", short_help="Restart workloads whose pods differ from the configured mode.")
@connection_options
@_run_options
def restart_command(**flags):
    """Restart only the workloads whose pods differ from the mode the mesh is configured
    for (after a config change made elsewhere, e.g. through GitOps), wait, and verify.
    """
    from kubectl_sidecar import switch
    from kubectl_sidecar.allocator import release_large_buffers

    release_large_buffers()
    options = _run_settings(flags)
    members = _members(flags)
    scopes = [_scope(member.cluster, flags) for member in members]
    sys.exit(switch.restart(members, scopes, options, _console()))


@cli.command("completion", short_help="Print the shell completion script for kubectl-sidecar.")
@click.argument("shell", type=click.Choice(("bash", "zsh", "fish")))
def completion_command(shell):
    """Print the shell completion script for kubectl-sidecar run directly.

    \b
    For `kubectl sidecar <TAB>` kubectl (1.26+) asks kubectl_complete-sidecar on
    PATH instead: pip installs it; see the README for krew.

    \b
    Examples:
      source <(kubectl-sidecar completion bash)
      kubectl-sidecar completion fish > ~/.config/fish/completions/kubectl-sidecar.fish
    """
    from kubectl_sidecar import completion

    click.echo(completion.script(shell), nl=False)


@cli.command("version", short_help="Show the version, commit, Python and kubernetes client.")
def version_command():
    """Show the plugin's version, the commit it was built from, its Python and kubernetes client."""
    _show_version(click.get_current_context(), True)


def _show_version(ctx, value):
    if value and not ctx.resilient_parsing:
        from kubectl_sidecar import buildinfo

        click.echo(buildinfo.describe())
        ctx.exit()


REQUIRED_PACKAGES = ("click", "kubernetes", "yaml", "urllib3")


def main():
    import signal

    from kubectl_sidecar.errors import ExitCode, Terminated

    def terminate(signum, frame):
        raise Terminated

    # SIGTERM ends a run like Ctrl-C does (report what was done), not silently mid-change.
    signal.signal(signal.SIGTERM, terminate)
    try:
        # complete_var spelled out: click would derive it from "kubectl sidecar", space and all.
        code = cli.main(
            prog_name="kubectl sidecar",
            standalone_mode=False,
            complete_var="_KUBECTL_SIDECAR_COMPLETE",
        )
    except click.UsageError as error:
        # A flag that doesn't parse: kubectl's one line, then where the usage is.
        click.echo(usage_line(error.format_message()), err=True)
        if error.ctx is not None:
            click.echo(f"See '{error.ctx.command_path} --help' for usage.", err=True)
        code = error.exit_code
    except click.ClickException as error:
        error.show()
        code = error.exit_code
    except Terminated:
        click.echo("Terminated.", err=True)
        code = ExitCode.TERMINATED
    except (KeyboardInterrupt, click.Abort) as error:
        # click turns a KeyboardInterrupt raised in a command (Terminated is one) into Abort.
        terminated = isinstance(error.__cause__, Terminated)
        click.echo("Terminated." if terminated else "Interrupted.", err=True)
        code = ExitCode.TERMINATED if terminated else ExitCode.INTERRUPTED
    except ModuleNotFoundError as error:
        # Run from a checkout or krew archive by a python3 without our dependencies.
        if error.name not in REQUIRED_PACKAGES:
            raise
        from kubectl_sidecar import missing_package_message

        sys.stderr.write(missing_package_message(error.name, sys.executable) + "\n")
        code = ExitCode.ERROR
    sys.exit(int(code) if isinstance(code, int) else 0)
