"""What a table of `status` imports, read from `python -X importtime`: start-up is most of a small
cluster's `status` (BENCHMARKS.md), so a module it doesn't need is a regression. Shared by the
unit test (up to the first request) and the e2e test (a whole run through kubectl)."""

# Modules a table of `status` must not import, and who does need them.
NOT_FOR_STATUS = {
    "importlib.metadata": "the official client (pydantic's plugins, urllib3's HTTP/2 package)",
    "kubernetes": "the official client: exec and auth-provider credentials only",
    "urllib3": "the official client: exec and auth-provider credentials only (transport.py)",
    "concurrent.futures": "a fleet's switch and restart",
    "shutil": "kubeconfig's exec credentials",
    "tempfile": "kubeconfig's exec credentials",
    "urllib.request": "a proxy named in the environment",
    "tabulate": "--summary",
    "yaml": "-o yaml, and kubeconfigs outside the YAML kubectl writes (blockyaml)",
    "kubectl_sidecar.switch": "switch and restart",
    "kubectl_sidecar.meshwide": "switch",
    "kubectl_sidecar.perworkload": "switch",
    "kubectl_sidecar.review": "switch and restart",
    "kubectl_sidecar.canaryrun": "switch and restart",
    "kubectl_sidecar.verify": "switch and restart",
    "kubectl_sidecar.plan": "switch and restart",
    "kubectl_sidecar.execute": "switch and restart",
    "kubectl_sidecar.tracking": "switch and restart",
    "kubectl_sidecar.lease": "switch and restart",
    "kubectl_sidecar.access": "switch and restart",
    "kubectl_sidecar.preflight": "switch",
    "kubectl_sidecar.watch": "status --watch",
    "kubectl_sidecar.completers": "completion",
    "kubectl_sidecar.buildinfo": "version",
    # A dataclass compiles its generated methods at every start (~0.2-1.7 ms each, 27 ms of
    # status's start-up for 32 of them): a class on status's path is a NamedTuple or written out.
    "dataclasses": "switch's plans and outcomes (plan.py, execute.py, ...)",
}


def imported_modules(stderr):
    """The modules a run imported, from the lines `python -X importtime` writes to stderr."""
    names = set()
    for line in stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            if name != "imported package":
                names.add(name)
    return names


def unneeded(modules):
    """The modules of NOT_FOR_STATUS (or their submodules) among modules, with why not."""
    return {
        name: why
        for name, why in NOT_FOR_STATUS.items()
        if any(module == name or module.startswith(name + ".") for module in modules)
    }
