"""The click layer: flags -> plain options -> one call per command. The only place that exits.

Heavy modules (the kubernetes client, yaml) are imported inside the commands so that
`kubectl sidecar --help` starts instantly.
"""
import functools
import os
import sys

import click

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
MESHES = ("auto", "asm", "istio", "linkerd")
OUTPUTS = ("table", "wide", "json", "yaml")


def _timeout(ctx, param, value):
    from kubectl_sidecar.durations import parse_duration

    if value is None:
        return None
    return parse_duration(value, f"--{param.name.replace('_', '-')}") or None


def connection_options(command):
    """kubectl's own connection and scope flags, spelled as kubectl spells them."""
    options = [
        click.option("--kubeconfig", metavar="PATH",
                     help="Path to the kubeconfig file (default: $KUBECONFIG, ~/.kube/config)."),
        click.option("--context", metavar="NAME", help="The kubeconfig context to use."),
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
@click.option("--version", is_flag=True, is_eager=True, expose_value=False,
              callback=lambda ctx, param, value: _show_version(ctx, value),
              help="Show the version and build details, then exit.")
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
        from kubectl_sidecar import cluster

        self.cluster = cluster.connect(kubeconfig, context, request_timeout)
        self.mesh_cluster = None
        if mesh_context or mesh_kubeconfig:
            self.mesh_cluster = cluster.connect(
                mesh_kubeconfig or kubeconfig, mesh_context, request_timeout)


def _scope(connection, namespace, all_namespaces, selector):
    from kubectl_sidecar.status import Scope

    if all_namespaces:
        return Scope(namespace=None, selector=selector)
    return Scope(namespace=namespace or connection.cluster.namespace, selector=selector)


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
def status_command(kubeconfig, context, namespace, all_namespaces, selector, request_timeout,
                   mesh, mesh_context, mesh_kubeconfig, proxy_names, output, no_headers,
                   needs_restart, namespace_summary):
    """Show each pod's sidecar mode, the mode its mesh would inject now, and what to do.

    \b
    MODE is native, traditional, invalid (proxy in initContainers without
    restartPolicy: Always: the pod can't start), gateway (the proxy is the workload)
    or none. DESIRED comes from the mesh config (ASMMeshConfig, istiod's
    ENABLE_NATIVE_SIDECARS, linkerd-config) or the pod's override annotation.
    """
    from kubectl_sidecar import render, status
    from kubectl_sidecar.allocator import release_large_buffers

    release_large_buffers()
    connection = Connection(kubeconfig, context, request_timeout, mesh_context, mesh_kubeconfig)
    scope = _scope(connection, namespace, all_namespaces, selector)
    custom_proxies = {name: "custom" for name in proxy_names}
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


def _run_options(command):
    """Flags shared by switch and restart: how carefully to change the cluster."""
    options = [
        click.option("--dry-run", type=click.Choice(["none", "client", "server"]), default="none",
                     is_flag=False, flag_value="client",
                     help="Only print the plan (client), or also send every write with the API's "
                          "dryRun=All (server). Bare --dry-run means client."),
        click.option("-y", "--yes", is_flag=True, help="Don't ask for confirmation."),
        click.option("--concurrency", type=click.IntRange(1, 50), default=2, show_default=True,
                     help="Workloads restarted and waited for at a time."),
        click.option("--timeout", default="10m", show_default=True, metavar="DURATION",
                     callback=_timeout, help="Give up waiting for rollouts after this long."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _stdin_is_terminal():
    return sys.stdin.isatty()


def _console():
    from kubectl_sidecar.errors import InputError
    from kubectl_sidecar.switch import Console

    def confirm():
        if not _stdin_is_terminal():
            raise InputError("refusing to change the cluster without --yes: stdin is not a "
                             "terminal (--dry-run shows the plan without changing anything)")
        return click.confirm("Apply this plan?", default=False, err=True)

    return Console(out=click.echo, err=lambda text: click.echo(text, err=True), confirm=confirm)


@cli.command("switch")
@click.argument("workloads", nargs=-1, metavar="[WORKLOAD]...")
@click.option("--native", "to_native", is_flag=True, help="Switch to native sidecars.")
@click.option("--traditional", "to_traditional", is_flag=True,
              help="Switch to traditional sidecars.")
@connection_options
@_run_options
@click.option("--force", is_flag=True,
              help="Switch to native even when the API server or a kubelet is older than 1.29.")
@click.option("--no-restart", is_flag=True,
              help="Only change the mesh config; print the restart command to run later.")
def switch_command(workloads, to_native, to_traditional, kubeconfig, context, namespace,
                   all_namespaces, selector, request_timeout, mesh, mesh_context, mesh_kubeconfig,
                   proxy_names, dry_run, yes, concurrency, timeout, force, no_restart):
    """Switch the mesh (or some workloads) to native or traditional sidecars, then restart
    exactly the workloads whose pods are in the other mode, wait for them, and verify.

    \b
    Without WORKLOAD: change the mesh config (ASMMeshConfig, istiod's
    ENABLE_NATIVE_SIDECARS, Linkerd namespace annotations) and restart affected
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
    from kubectl_sidecar.errors import InputError
    from kubectl_sidecar.status import Scope

    if to_native == to_traditional:
        raise InputError("say exactly one of --native or --traditional")
    refs = [switch.parse_workload(text) for text in workloads]
    if refs and selector:
        raise InputError("name workloads or use -l, not both")
    options = switch.Options(
        target="native" if to_native else "traditional", mesh=mesh,
        proxy_names={name: "custom" for name in proxy_names},
        dry_run=None if dry_run == "none" else dry_run, yes=yes, force=force,
        no_restart=no_restart, concurrency=concurrency, timeout=timeout or 600.0)
    connection = Connection(kubeconfig, context, request_timeout, mesh_context, mesh_kubeconfig)
    if refs or selector:
        if no_restart:
            raise InputError("--no-restart applies to a mesh-wide switch only")
        scope = _scope(connection, namespace, all_namespaces, selector)
        code = switch.switch_workloads(connection.cluster, connection.mesh_cluster, scope, refs,
                                       options, _console())
    else:
        # The config change is mesh-wide, so by default so are the restarts.
        scope = Scope(namespace=None if all_namespaces or not namespace else namespace)
        code = switch.switch_mesh(connection.cluster, connection.mesh_cluster, scope, options,
                                  _console())
    sys.exit(code)


@cli.command("restart")
@connection_options
@_run_options
def restart_command(kubeconfig, context, namespace, all_namespaces, selector, request_timeout,
                    mesh, mesh_context, mesh_kubeconfig, proxy_names, dry_run, yes, concurrency,
                    timeout):
    """Restart only the workloads whose pods differ from the mode the mesh is configured
    for (after a config change made elsewhere, e.g. through GitOps), wait, and verify.
    """
    from kubectl_sidecar import switch

    options = switch.Options(
        mesh=mesh, proxy_names={name: "custom" for name in proxy_names},
        dry_run=None if dry_run == "none" else dry_run, yes=yes, concurrency=concurrency,
        timeout=timeout or 600.0)
    connection = Connection(kubeconfig, context, request_timeout, mesh_context, mesh_kubeconfig)
    scope = _scope(connection, namespace, all_namespaces, selector)
    sys.exit(switch.restart(connection.cluster, connection.mesh_cluster, scope, options,
                            _console()))


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
    try:
        cli.main(prog_name="kubectl sidecar")
    except ModuleNotFoundError as error:
        # Run from a checkout or krew archive by a python3 without our dependencies.
        if error.name not in REQUIRED_PACKAGES:
            raise
        from kubectl_sidecar import missing_package_message

        sys.stderr.write(missing_package_message(error.name, sys.executable) + "\n")
        sys.exit(1)
