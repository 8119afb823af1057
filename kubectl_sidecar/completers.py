"""Shell completion below the command tree: the values the flags complete (contexts,
namespaces, workloads, ...), as click's shell_complete callbacks, and click's scripts for a
command tree it is given. The flags (connection.py, cli.py) name these callbacks;
completion.py answers kubectl's plugin protocol over cli's tree.

Values that need the cluster (namespaces, workloads) take one short request each and are silent
on any failure: a completion that errors or hangs is worse than none.
"""

from __future__ import annotations

LOOKUP_TIMEOUT = 2.0  # seconds for the one request a cluster-backed completion makes
LOOKUP_LIMIT = 500  # one page; a longer list is cut there rather than fetched page by page
PROG_NAME = "kubectl-sidecar"
COMPLETE_VAR = "_KUBECTL_SIDECAR_COMPLETE"


# --- click's own scripts, for kubectl-sidecar run directly ------------------------------------


def script(command, shell):
    """The completion script click generates for `kubectl-sidecar` (command: its click group)
    in this shell."""
    from click.shell_completion import get_completion_class

    return get_completion_class(shell)(command, {}, PROG_NAME, COMPLETE_VAR).source()


# --- value callbacks (click's shell_complete signature) ---------------------------------------


def _items(values, incomplete):
    from click.shell_completion import CompletionItem

    return [CompletionItem(value) for value in values if value.startswith(incomplete)]


def contexts(ctx, param, incomplete):
    """--context and --mesh-context: the kubeconfig's contexts."""
    from kubectl_sidecar.kubeconfig import context_names

    kubeconfig = ctx.params.get("mesh_kubeconfig") if param.name == "mesh_context" else None
    return _items(context_names(kubeconfig or ctx.params.get("kubeconfig")), incomplete)


def clusters(ctx, param, incomplete):
    return _items(_kubeconfig_names(ctx, "clusters"), incomplete)


def users(ctx, param, incomplete):
    return _items(_kubeconfig_names(ctx, "users"), incomplete)


def _kubeconfig_names(ctx, section):
    from kubectl_sidecar.errors import SidecarError
    from kubectl_sidecar.kubeconfig import existing_paths, read_kubeconfigs

    try:
        merged = read_kubeconfigs(existing_paths(ctx.params.get("kubeconfig")))
    except SidecarError:
        return []
    return sorted(getattr(merged, section))


def namespaces(ctx, param, incomplete):
    """-n: the cluster's namespaces (one request); the kubeconfig's when the cluster can't say."""
    from kubectl_sidecar import resources
    from kubectl_sidecar.kubeconfig import context_namespaces

    names = _lookup(ctx, lambda cluster: _names(cluster, resources.NAMESPACES.path()))
    if names is None:
        names = context_namespaces(ctx.params.get("kubeconfig"))
    return _items(sorted(names), incomplete)


# What switch's WORKLOAD may name (switch.parse_workload), in kubectl's kind/name form.
WORKLOAD_KINDS = ("deployment", "statefulset", "daemonset")


def workloads(ctx, param, incomplete):
    """switch's WORKLOAD: kind/name of the workloads in the -n namespace (the context's by
    default). Once a kind is typed, one request for that kind; before, one per kind."""
    from kubectl_sidecar import resources
    from kubectl_sidecar.switch import KIND_ALIASES

    kind, slash, _ = incomplete.partition("/")
    if slash:
        wanted = [kind.lower()] if kind.lower() in KIND_ALIASES else []
    else:
        wanted = list(WORKLOAD_KINDS)

    def read(cluster):
        namespace = ctx.params.get("namespace") or cluster.namespace
        found = []
        for alias in wanted:
            resource = resources.BY_KIND[KIND_ALIASES[alias]]
            found += [f"{alias}/{name}" for name in _names(cluster, resource.path(namespace))]
        return found

    return _items(_lookup(ctx, read) or [], incomplete)


def _names(cluster, path):
    from kubectl_sidecar.cluster import METADATA_ONLY

    answer = cluster.request("GET", path, params={"limit": LOOKUP_LIMIT}, accept=METADATA_ONLY)
    return [item["metadata"]["name"] for item in answer.get("items") or ()]


def _lookup(ctx, read):
    """read(cluster) on the cluster the words so far point at, with a short timeout; None on
    any failure (no kubeconfig, unreachable, forbidden, a credential plugin that fails)."""
    from kubectl_sidecar import kubeconfig

    params = ctx.params
    # --context is a tuple of names once parsed (a fleet): the lookup asks the first.
    contexts = params.get("context") or (None,)
    context = contexts[0] if isinstance(contexts, (tuple, list)) else contexts
    try:
        cluster = kubeconfig.connect(
            params.get("kubeconfig"),
            context,
            LOOKUP_TIMEOUT,
            kubeconfig.Overrides.from_flags(params),
        )
        return read(cluster)
    except Exception:  # noqa: BLE001 - completion is best effort and silent
        return None
