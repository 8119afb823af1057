"""The layers of README's module table, checked on the imports of every module of the package
(function-level imports too: cli imports lazily, and a lazy import is still a dependency)."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "kubectl_sidecar"

# Pure functions of plain data: no API server, no kubeconfig, no click, no network.
PURE = {
    "actions",
    "blockyaml",
    "classify",
    "durations",
    "errors",
    "injection",
    "meshconfig",
    "owners",
    "patches",
    "refs",
    "plan",
    "preflight",
    "render",
    "resources",
    "rollout",
    "workloads",
    "meshes",  # the package: a docstring
    "meshes.base",
    "meshes.registry",
}
# A mesh module reads its config through the cluster it is handed, never by importing one.
MESH_MODULES = {"meshes.appmesh", "meshes.asm", "meshes.consul", "meshes.istio"}
MESH_MODULES |= {"meshes.kuma", "meshes.linkerd", "meshes.reading"}
IMPURE_FOR_PURE = ("cluster", "transport", "kubeconfig", "plainconfig", "cli", "completion")
THIRD_PARTY_FOR_PURE = ("click", "kubernetes", "urllib3")


def module_name(path):
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def modules():
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


MODULES = modules()


def imports(name):
    """Every name `name` imports: ours without the `kubectl_sidecar.` prefix ("plan",
    "meshes.base"), others as written ("click", "urllib3.util.ssl_")."""
    tree = ast.parse(MODULES[name].read_text(), filename=str(MODULES[name]))
    # Imports only for type hints (`if TYPE_CHECKING:`) run nowhere: they are no dependency.
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING"):
            node.body = []
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            # `from kubectl_sidecar import status` imports a module, not a name.
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                if candidate.startswith("kubectl_sidecar."):
                    found.add(candidate)
    ours = set()
    for imported in found:
        if imported == "kubectl_sidecar" or imported.startswith("kubectl_sidecar."):
            inner = imported.removeprefix("kubectl_sidecar").removeprefix(".")
            if inner in MODULES and inner:
                ours.add(inner)
        else:
            ours.add(imported)
    return ours


def ours(name):
    return {imported for imported in imports(name) if imported in MODULES and imported}


def test_the_module_lists_here_name_real_modules():
    assert PURE | MESH_MODULES <= set(MODULES)
    assert {name for name in MODULES if name.startswith("meshes.")} <= PURE | MESH_MODULES


@pytest.mark.parametrize("name", sorted(PURE | MESH_MODULES))
def test_pure_modules_never_reach_a_cluster_or_the_command_line(name):
    imported = imports(name)
    assert not imported & set(IMPURE_FOR_PURE)
    assert not {i for i in imported if i.split(".")[0] in THIRD_PARTY_FOR_PURE}


@pytest.mark.parametrize("name", sorted(PURE | MESH_MODULES))
def test_pure_modules_import_only_pure_modules_and_the_meshes(name):
    assert ours(name) <= PURE | MESH_MODULES


def test_only_cluster_talks_to_an_api_server():
    # transport.py sends HTTP for cluster.py alone; it imports urllib3 only for TLS inside TLS
    # (an https:// proxy), and nothing of ours but the standard library.
    assert {name for name in MODULES if "transport" in ours(name)} == {"cluster"}
    assert ours("transport") == set()
    network = ("urllib3", "http", "ssl", "requests")
    users = {name for name in MODULES if any(i.split(".")[0] in network for i in imports(name))}
    assert users == {"cluster", "transport"}
    # kubeconfig loads credentials with the official client's config code; nothing sends a
    # request with it.
    client = {
        name for name in MODULES if any(i.split(".")[0] == "kubernetes" for i in imports(name))
    }
    assert client <= {"kubeconfig"}
    for imported in imports("kubeconfig"):
        assert imported in ("kubernetes.client", "kubernetes.config") or not imported.startswith(
            "kubernetes"
        )


def cycles():
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    graph = {name: ours(name) - {name} for name in MODULES if name}
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in graph[node]:
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_two_modules_import_each_other():
    assert cycles() == []
