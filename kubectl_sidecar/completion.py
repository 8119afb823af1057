"""Shell completion, two ways, from one source: the click command tree and the value callbacks
below (so completion can't drift from the flags).

- `kubectl sidecar <TAB>`: since 1.26 kubectl runs `kubectl_complete-sidecar` with the words
  after the plugin's name and the word being completed ("" for a new word). It reads one
  completion per line (`value<TAB>description`), then `:<directive>`, cobra's ShellCompDirective
  (kubectl's pkg/cmd/plugin/plugin_completion.go, cobra's completions.go). A non-zero exit
  discards everything, and our stderr reaches the user's terminal: we stay silent.
- `kubectl-sidecar` run directly: `kubectl sidecar completion bash|zsh|fish` prints click's script.

Values that need the cluster (namespaces, workloads) take one short request each and are silent
on any failure: a completion that errors or hangs is worse than none.
"""

from __future__ import annotations

import sys

# cobra's ShellCompDirective bits.
DIRECTIVE_ERROR = 1
DIRECTIVE_NO_FILE_COMP = 4
DIRECTIVE_FILTER_DIRS = 16
DIRECTIVE_DEFAULT = 0  # the shell completes file names

LOOKUP_TIMEOUT = 2.0  # seconds for the one request a cluster-backed completion makes
LOOKUP_LIMIT = 500  # one page; a longer list is cut there rather than fetched page by page
PROG_NAME = "kubectl-sidecar"
COMPLETE_VAR = "_KUBECTL_SIDECAR_COMPLETE"


# --- kubectl's plugin completion protocol -----------------------------------------------------


def protocol_output(args):
    """What kubectl_complete-sidecar prints for these arguments (the words after `sidecar`, the
    last being the one completed): completion lines, then `:<directive>`."""
    from click.shell_completion import ShellComplete

    from kubectl_sidecar.cli import cli

    words, incomplete = (list(args[:-1]), args[-1]) if args else ([], "")
    try:
        items = ShellComplete(cli, {}, "kubectl sidecar", COMPLETE_VAR).get_completions(
            words, incomplete
        )
    except Exception:  # noqa: BLE001 - words click can't parse: nothing to offer, say so
        return f":{DIRECTIVE_ERROR}\n"
    kinds = {item.type for item in items}
    if "file" in kinds:
        return f":{DIRECTIVE_DEFAULT}\n"
    if "dir" in kinds:
        return f":{DIRECTIVE_FILTER_DIRS}\n"
    lines = [_line(item.value, item.help) for item in items]
    return "".join(line + "\n" for line in lines) + f":{DIRECTIVE_NO_FILE_COMP}\n"


def _line(value, description):
    """`value` or `value<TAB>description`, the description on one line (its first sentence)."""
    import re

    text = " ".join(str(description or "").split())
    # A sentence ends at a full stop before a capital letter ("e.g. -l app=cart" goes on).
    text = re.split(r"\.\s+(?=[A-Z])", text, maxsplit=1)[0].rstrip(".")
    return f"{value}\t{text}" if text else str(value)


def main():
    """The `kubectl_complete-sidecar` entry point."""
    import io
    import os

    # Anything on stderr lands in the middle of the user's command line; nothing may go there.
    sys.stderr = io.StringIO()
    try:
        out = protocol_output(sys.argv[1:])
    except Exception:  # noqa: BLE001 - see above: silent, and tell the shell to ignore us
        out = f":{DIRECTIVE_ERROR}\n"
    try:
        sys.stdout.write(out)
        sys.stdout.flush()
    except BrokenPipeError:
        os._exit(0)
    return 0


# --- click's own scripts, for kubectl-sidecar run directly ------------------------------------


def script(shell):
    """The completion script click generates for `kubectl-sidecar` in this shell."""
    from click.shell_completion import get_completion_class

    from kubectl_sidecar.cli import cli

    return get_completion_class(shell)(cli, {}, PROG_NAME, COMPLETE_VAR).source()


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
    from kubectl_sidecar.cli import first_context, overrides_from

    params = ctx.params
    try:
        cluster = kubeconfig.connect(
            params.get("kubeconfig"), first_context(params), LOOKUP_TIMEOUT, overrides_from(params)
        )
        return read(cluster)
    except Exception:  # noqa: BLE001 - completion is best effort and silent
        return None
