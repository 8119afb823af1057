"""kubectl's connection and scope flags (cli-runtime's ConfigFlags): the click options,
spelled as kubectl spells them, the typed ConnectionFlags they make, and connecting one context
or several into the fleet.Members that status and switch take (a single context is a fleet of
one).

Shared by every command that talks to a cluster; completion's lookups read the same flags
through kubeconfig.Overrides.from_flags, below both.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import click

from kubectl_sidecar.meshes.registry import CHOICES, on_mesh_instance_titles

MESHES = ("auto",) + CHOICES


def duration(ctx, param, value):
    """A `30s`-style duration flag in seconds; None for no limit (0) or not given."""
    from kubectl_sidecar.durations import parse_duration

    if value is None:
        return None
    return parse_duration(value, f"--{param.name.replace('_', '-')}") or None


def context_names(ctx, param, value):
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
    """A completion callback from completers.py, imported only when completing: `--help` and
    every command stay fast."""

    def complete(ctx, param, incomplete):
        from kubectl_sidecar import completers

        return getattr(completers, name)(ctx, param, incomplete)

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
            callback=context_names,
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
            callback=duration,
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


class ConnectionFlags(NamedTuple):
    """What the connection and scope flags ask for, read once from click's parameters."""

    kubeconfig: str | None = None
    contexts: tuple = ()  # --context names in the order given; () = the current context
    request_timeout: float | None = None
    mesh_context: str | None = None
    mesh_kubeconfig: str | None = None
    overrides: Any = None  # kubeconfig.Overrides (imported with the client, when connecting)
    namespace: str | None = None
    all_namespaces: bool = False
    selector: str | None = None
    mesh: str = "auto"
    proxy_names: Mapping[str, str] = {}  # container name -> "custom"; never written

    @classmethod
    def from_flags(cls, flags):
        """Take the connection and scope flags out of click's parameters (flags: the dict of
        a command's parameters; what is left in it is the command's own)."""
        from kubectl_sidecar.kubeconfig import Overrides

        overrides = Overrides.from_flags(flags)
        for name in OVERRIDE_FLAGS:
            flags.pop(name, None)
        return cls(
            kubeconfig=flags.pop("kubeconfig"),
            contexts=flags.pop("context"),
            request_timeout=flags.pop("request_timeout"),
            mesh_context=flags.pop("mesh_context"),
            mesh_kubeconfig=flags.pop("mesh_kubeconfig"),
            overrides=overrides,
            namespace=flags.pop("namespace"),
            all_namespaces=flags.pop("all_namespaces"),
            selector=flags.pop("selector"),
            mesh=flags.pop("mesh"),
            proxy_names={name: "custom" for name in flags.pop("proxy_names")},
        )

    @property
    def several(self):
        return len(self.contexts) > 1

    def members(self):
        """A fleet.Member per --context, in the order given, or one for the one context, all
        sharing one connection to --mesh-context (the ASM instance).

        Who we act as and how we talk (--as, --disable-compression) apply to every context;
        the flags that pick one API server and its credentials (--server, --token, --cluster,
        ...) can't apply to several.
        """
        from kubectl_sidecar import kubeconfig as config
        from kubectl_sidecar.errors import InputError
        from kubectl_sidecar.fleet import Member

        if not self.several:
            cluster = config.connect(
                self.kubeconfig,
                self.contexts[0] if self.contexts else None,
                self.request_timeout,
                self.overrides,
            )
            return [Member(cluster.context, cluster, self._mesh_cluster(self.overrides))]
        shared = self.overrides.for_mesh()
        if self.overrides != shared:
            raise InputError(
                "--cluster, --user, --server, --token and the TLS flags choose one API "
                "server and its credentials: not with several --context (give each "
                "cluster a kubeconfig context)"
            )
        clusters = [
            config.connect(self.kubeconfig, name, self.request_timeout, shared)
            for name in self.contexts
        ]
        mesh_cluster = self._mesh_cluster(shared)
        return [
            Member(name, cluster, mesh_cluster)
            for name, cluster in zip(self.contexts, clusters, strict=True)
        ]

    def _mesh_cluster(self, overrides):
        """The connection to --mesh-context, or None when the mesh config is in each cluster."""
        from kubectl_sidecar import kubeconfig as config

        if not (self.mesh_context or self.mesh_kubeconfig):
            return None
        return config.connect(
            self.mesh_kubeconfig or self.kubeconfig,
            self.mesh_context,
            self.request_timeout,
            overrides.for_mesh(),
        )

    def scope(self, cluster):
        """-n/-A/-l as a Scope; without either, the context's namespace, as kubectl does."""
        from kubectl_sidecar.status import Scope

        if self.all_namespaces:
            return Scope(namespace=None, selector=self.selector)
        return Scope(namespace=self.namespace or cluster.namespace, selector=self.selector)


# The flags kubeconfig.Overrides carries.
OVERRIDE_FLAGS = (
    "cluster",
    "user",
    "server",
    "token",
    "certificate_authority",
    "client_certificate",
    "client_key",
    "insecure_skip_tls_verify",
    "tls_server_name",
    "as_user",
    "as_groups",
    "as_uid",
    "disable_compression",
)
