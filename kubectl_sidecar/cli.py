"""The click layer: flags -> typed options -> one run per command. The only place that exits,
and where errors become exit codes.

Heavy modules (the kubernetes client, yaml) are imported inside the commands so that
`kubectl sidecar --help` starts instantly. The connection and scope flags are connection.py's;
what a command does is its core module's run (statusrun.run, switch.run).
"""

import functools
import sys

import click

from kubectl_sidecar.connection import MESHES, ConnectionFlags, connection_options, duration
from kubectl_sidecar.errors import Error, InputError, SidecarError, usage_line

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
OUTPUTS = ("table", "wide", "json", "yaml")
# Measured (BENCHMARKS.md, switch): the plugin costs the same at any concurrency; the limit is
# what restarting many workloads at once costs the cluster.
DEFAULT_CONCURRENCY = 5
__all__ = ["MESHES", "cli", "main"]


def _complete(name):
    """A completion callback from completers.py, imported only when completing."""

    def complete(ctx, param, incomplete):
        from kubectl_sidecar import completers

        return getattr(completers, name)(ctx, param, incomplete)

    return complete


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
@click.option(
    "--probe",
    is_flag=True,
    help="DESIRED from the admission chain: a dry-run create of each workload's pod "
    "(one request per workload shown, and a GET of its template), not from the mesh config.",
)
@handle_broken_pipe
def status_command(
    output, no_headers, needs_restart, namespace_summary, watch, exit_code, probe, **flags
):
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
    from kubectl_sidecar import statusrun
    from kubectl_sidecar.allocator import release_large_buffers

    connection = ConnectionFlags.from_flags(flags)
    options = statusrun.Options(
        output=output,
        no_headers=no_headers,
        needs_restart=needs_restart,
        namespace_summary=namespace_summary,
        watch=watch,
        exit_code=exit_code,
        mesh=connection.mesh,
        proxy_names=connection.proxy_names,
        probe=probe,
    ).validate(len(connection.contexts))
    console = statusrun.Console(
        out=lambda text: click.echo(text, nl=False),
        err=lambda text: click.echo(text, err=True),
    )
    try:
        release_large_buffers()
        members = connection.members()
        scopes = [connection.scope(member.cluster) for member in members]
        needing_action = statusrun.run(members, scopes, options, console)
    except SidecarError as error:
        if exit_code:
            # As kubectl diff: 1 means "differences", so an error must not look like one.
            error.exit_code = 3
        raise
    if exit_code and needing_action:
        sys.exit(1)


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
            callback=duration,
            help="Give up waiting for one workload's rollout after this long, as "
            "kubectl rollout status --timeout does (0 = no limit). A run over "
            "many workloads takes as long as their rollouts need.",
        ),
        click.option(
            "--keep-going",
            is_flag=True,
            help="Don't stop starting restarts after a failed rollout; report every "
            "failure at the end. Workloads the canary finds can't be switched are left "
            "as they are and the rest switched.",
        ),
        click.option(
            "--no-canary",
            is_flag=True,
            envvar="KUBECTL_SIDECAR_NO_CANARY",
            help="Don't try each workload's next pod through the admission chain "
            "(a dry-run pod create) before the first write.",
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
    "it from starting); patch mesh config that Argo CD or Flux manages (they may put "
    "it back: change it in Git too).",
)
@click.option(
    "--no-restart",
    is_flag=True,
    help="Only change the mesh config; print the restart command to run later.",
)
@click.option(
    "--pin-failed",
    is_flag=True,
    help="Pin to the old mode, with the mesh's per-workload annotation, the workloads the "
    "canary finds can't be switched (before the config changes) and those whose rollout "
    "failed after the switch; switch the rest.",
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
    connection = ConnectionFlags.from_flags(flags)
    options = switch.Options.from_flags(
        connection,
        flags,
        "native" if to_native else "traditional",
        workloads,
        force,
        no_restart,
        pin_failed,
    )
    members = connection.members()
    if options.workloads or connection.selector:
        scopes = [connection.scope(member.cluster) for member in members]
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
    connection = ConnectionFlags.from_flags(flags)
    options = switch.Options.from_flags(connection, flags)
    members = connection.members()
    scopes = [connection.scope(member.cluster) for member in members]
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
    from kubectl_sidecar import completers

    click.echo(completers.script(cli, shell), nl=False)


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
