"""Build pinned etcd, kube-apiserver, kube-controller-manager, kubectl and Istio's injector (the
e2e tier's default for Istio/ASM), and krew and helm for their tests, from the Go module proxy.

Binaries land in a cache directory keyed by version; Go's own module and build caches make every
build after the first on a machine take seconds.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

KUBERNETES_VERSION = "v1.36.3"  # native sidecars are GA since 1.33
ETCD_VERSION = "v3.6.6"
KUBERNETES_COMMANDS = ("kube-apiserver", "kube-controller-manager", "kubectl")
# The oldest Go that builds them: k8s.io/kubernetes v1.36.3's go.mod says `go 1.26.0` (etcd's says
# 1.24), and builds run with GOTOOLCHAIN=local, so an older Go can't fetch a newer one itself.
GO_NEEDED = (1, 26)
KREW_VERSION = "v0.5.0"
KREW_COMMANDS = ("krew", "validate-krew-manifest")
# The newest helm.sh/helm/v4 the Go module proxy serves here; the owner tests (issue 19) install
# charts with it and run the `helm upgrade` that `switch` prints.
HELM_VERSION = "v4.3.2"
# istio.io/istio as the Go module proxy serves it: a snapshot of Istio's main branch (2026-08-27;
# the proxy serves no tagged release, Istio's module path has no /v1). Its go.mod says go 1.26.0.
ISTIO_VERSION = "v0.0.0-20260827124520-eed52ebb66ad"
ISTIO_INJECTOR_SOURCE = Path(__file__).resolve().parent / "istio_injector"
# The newest github.com/argoproj/argo-rollouts release this machine's Go builds (v1.10.2 and v1.9.3
# need Go 1.26.10); tests/harness/rollouts_controller/go.mod repeats its replace block.
ARGO_ROLLOUTS_VERSION = "v1.10.1"
ARGO_ROLLOUTS_MODULE = "github.com/argoproj/argo-rollouts"
ARGO_ROLLOUTS_SOURCE = Path(__file__).resolve().parent / "rollouts_controller"

# k8s.io/kubernetes requires its staging modules at exactly v0.0.0 and replaces them with local
# paths that don't exist in the module zip; anything looser also catches real pseudo-versions.
_STAGING_REQUIREMENT = re.compile(r"^\s*(k8s\.io/[a-z0-9-]+) v0\.0\.0\s*$", re.MULTILINE)


def cache_root() -> Path:
    configured = os.environ.get("KUBECTL_SIDECAR_CACHE")
    if configured:
        return Path(configured)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "kubectl-sidecar"


def kubernetes_bin() -> Path:
    return cache_root() / f"kubernetes-{KUBERNETES_VERSION}" / "bin"


def etcd_bin() -> Path:
    return cache_root() / f"etcd-{ETCD_VERSION}" / "bin"


def binaries() -> dict[str, Path]:
    found = {name: kubernetes_bin() / name for name in KUBERNETES_COMMANDS}
    found["etcd"] = etcd_bin() / "etcd"
    return found


def krew_bin() -> Path:
    return cache_root() / f"krew-{KREW_VERSION}" / "bin"


def helm_binary() -> Path:
    return cache_root() / f"helm-{HELM_VERSION}" / "bin" / "helm"


def istio_injector_binary() -> Path:
    return cache_root() / f"istio-injector-{ISTIO_VERSION}" / "bin" / "istio-injector"


def argo_rollouts_controller_binary() -> Path:
    return cache_root() / f"argo-rollouts-{ARGO_ROLLOUTS_VERSION}" / "bin" / "rollouts-controller"


class GoMissing(RuntimeError):
    """No Go, or one too old to build the pinned releases: the message says what to install."""


def go_available() -> bool:
    return shutil.which("go") is not None


def _go_version():
    """(major, minor) of the `go` on PATH, or None when there is none."""
    if not go_available():
        return None
    done = subprocess.run(
        ["go", "env", "GOVERSION"],
        capture_output=True,
        text=True,
        env=dict(os.environ, GOTOOLCHAIN="local"),
    )
    found = re.match(r"go(\d+)\.(\d+)", done.stdout.strip())
    return (int(found[1]), int(found[2])) if found else None


def check_go() -> None:
    """Raise GoMissing, in one line a user can act on, unless a new enough Go is on PATH."""
    needed = ".".join(map(str, GO_NEEDED))
    advice = (
        f"the local control plane (Kubernetes {KUBERNETES_VERSION}) is built from source "
        f"and needs Go {needed} or newer: install it from https://go.dev/dl/ (or your package "
        f"manager, if it has {needed}) and put `go` on PATH"
    )
    version = _go_version()
    if version is None:
        raise GoMissing(f"Go is not installed: {advice}")
    if version < GO_NEEDED:
        raise GoMissing(f"Go {'.'.join(map(str, version))} is too old: {advice}")


# One go command's deadline. Cold builds measured on 2 shared cores (hack/README.md): the control
# plane 4.5 min, helm 9, Istio's injector 12; a hung download or build must still end a CI run
# (90 min) with its own error rather than the CI's.
GO_DEADLINE = 30 * 60  # seconds


def _go(args, cwd: Path, log, extra_env=None) -> None:
    env = dict(
        os.environ, CGO_ENABLED="0", GOFLAGS="-mod=mod", GOTOOLCHAIN="local", **(extra_env or {})
    )
    log(f"$ go {' '.join(args)}")
    try:
        done = subprocess.run(
            ["go", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=GO_DEADLINE
        )
    except subprocess.TimeoutExpired:
        raise RuntimeError(
            f"go {' '.join(args[:2])} did not finish in {GO_DEADLINE // 60} min in {cwd}"
        ) from None
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-25:])
        raise RuntimeError(f"go {' '.join(args[:2])} failed in {cwd}:\n{tail}")


def _wrapper_module(path: Path, name: str) -> None:
    path.mkdir(parents=True, exist_ok=True)
    (path / "go.mod").write_text(f"module {name}\n\ngo 1.24\n")
    (path / "go.sum").unlink(missing_ok=True)


def _staging_replacements(workdir: Path, log) -> list[str]:
    env = dict(os.environ, GOTOOLCHAIN="local")
    log(f"$ go mod download -json k8s.io/kubernetes@{KUBERNETES_VERSION}")
    done = subprocess.run(
        ["go", "mod", "download", "-json", f"k8s.io/kubernetes@{KUBERNETES_VERSION}"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"go mod download k8s.io/kubernetes@{KUBERNETES_VERSION} failed:\n{done.stdout}{done.stderr}"
        )
    gomod = Path(json.loads(done.stdout)["GoMod"]).read_text()
    staging_version = "v0." + KUBERNETES_VERSION.split(".", 1)[1]
    return [
        f"replace {module} => {module} {staging_version}"
        for module in sorted(set(_STAGING_REQUIREMENT.findall(gomod)))
    ]


def build_kubernetes(log) -> None:
    target = kubernetes_bin()
    if all((target / name).exists() for name in KUBERNETES_COMMANDS):
        return
    src = target.parent / "src"
    _wrapper_module(src, "kubectl-sidecar.local/kubernetes")
    replacements = _staging_replacements(src, log)
    with open(src / "go.mod", "a") as gomod:
        gomod.write("\n" + "\n".join(replacements) + "\n")
    packages = [f"k8s.io/kubernetes/cmd/{name}" for name in KUBERNETES_COMMANDS]
    _go(["get", *(f"{p}@{KUBERNETES_VERSION}" for p in packages)], src, log)
    minor = KUBERNETES_VERSION.split(".")[1]
    stamp = " ".join(
        f"-X k8s.io/component-base/version.{key}={value}"
        for key, value in (
            ("gitVersion", KUBERNETES_VERSION),
            ("gitMajor", "1"),
            ("gitMinor", minor),
            ("gitTreeState", "clean"),
        )
    )
    staging = target.parent / "bin.partial"
    staging.mkdir(exist_ok=True)
    _go(["build", "-ldflags", f"-s -w {stamp}", "-o", str(staging) + "/", *packages], src, log)
    target.mkdir(exist_ok=True)
    for name in KUBERNETES_COMMANDS:
        (staging / name).replace(target / name)


def build_etcd(log) -> None:
    target = etcd_bin()
    if (target / "etcd").exists():
        return
    src = target.parent / "src"
    _wrapper_module(src, "kubectl-sidecar.local/etcd")
    _go(["get", f"go.etcd.io/etcd/server/v3@{ETCD_VERSION}"], src, log)
    target.mkdir(parents=True, exist_ok=True)
    _go(
        [
            "build",
            "-ldflags",
            "-s -w",
            "-o",
            str(target / "etcd.partial"),
            "go.etcd.io/etcd/server/v3",
        ],
        src,
        log,
    )
    (target / "etcd.partial").replace(target / "etcd")


def build_krew(log=lambda line: print(line, file=sys.stderr, flush=True)) -> dict[str, Path]:
    """krew and its manifest validator at KREW_VERSION, built once into the cache (about 15 s)."""
    target = krew_bin()
    if not all((target / name).exists() for name in KREW_COMMANDS):
        check_go()
        staging = target.parent / "bin.partial"
        staging.mkdir(parents=True, exist_ok=True)
        _go(
            [
                "install",
                "-ldflags",
                "-s -w",
                *(f"sigs.k8s.io/krew/cmd/{name}@{KREW_VERSION}" for name in KREW_COMMANDS),
            ],
            target.parent,
            log,
            extra_env={"GOBIN": str(staging)},
        )
        target.mkdir(exist_ok=True)
        for name in KREW_COMMANDS:
            (staging / name).replace(target / name)
    return {name: target / name for name in KREW_COMMANDS}


def build_helm(log=lambda line: print(line, file=sys.stderr, flush=True)) -> Path:
    """helm at HELM_VERSION, built once into the cache (many minutes the first time: it brings
    the k8s.io client modules; seconds after that)."""
    target = helm_binary()
    if target.exists():
        return target
    check_go()
    started = time.monotonic()
    staging = target.parent.parent / "bin.partial"
    staging.mkdir(parents=True, exist_ok=True)
    # -X stamps the version `helm version` prints; without it helm reports its main branch's.
    _go(
        [
            "install",
            "-ldflags",
            f"-s -w -X helm.sh/helm/v4/internal/version.version={HELM_VERSION}",
            f"helm.sh/helm/v4/cmd/helm@{HELM_VERSION}",
        ],
        target.parent.parent,
        log,
        extra_env={"GOBIN": str(staging)},
    )
    target.parent.mkdir(exist_ok=True)
    (staging / "helm").replace(target)
    log(f"helm built in {time.monotonic() - started:.0f}s at {target}")
    return target


def _module_dir(module: str, version: str, log) -> Path:
    """Where Go's module cache holds module@version (downloaded once)."""
    check_go()
    log(f"$ go mod download -json {module}@{version}")
    done = subprocess.run(
        ["go", "mod", "download", "-json", f"{module}@{version}"],
        cwd=cache_root() if cache_root().exists() else None,
        env=dict(os.environ, GOTOOLCHAIN="local"),
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"go mod download {module} failed:\n{done.stdout}{done.stderr}")
    return Path(json.loads(done.stdout)["Dir"])


def istiod_chart(log=lambda line: print(line, file=sys.stderr, flush=True)) -> Path:
    """Istio's own istiod chart (manifests/charts/istio-control/istio-discovery) from
    istio.io/istio@ISTIO_VERSION in Go's module cache (downloaded once, as for the injector)."""
    istio = _module_dir("istio.io/istio", ISTIO_VERSION, log)
    return istio / "manifests/charts/istio-control/istio-discovery"


def argo_rollouts_crds(log=lambda line: print(line, file=sys.stderr, flush=True)) -> list[Path]:
    """Argo Rollouts' own CRDs (manifests/crds) at ARGO_ROLLOUTS_VERSION, from Go's module cache."""
    crds = _module_dir(ARGO_ROLLOUTS_MODULE, ARGO_ROLLOUTS_VERSION, log) / "manifests" / "crds"
    return sorted(path for path in crds.glob("*-crd.yaml"))


def build_argo_rollouts_controller(
    log=lambda line: print(line, file=sys.stderr, flush=True),
) -> Path:
    """Argo Rollouts' rollouts-controller at ARGO_ROLLOUTS_VERSION, built once into the cache
    (hack/README.md has the times)."""
    target = argo_rollouts_controller_binary()
    if target.exists():
        return target
    check_go()
    started = time.monotonic()
    src = target.parent.parent / "src"
    shutil.rmtree(src, ignore_errors=True)
    src.mkdir(parents=True)
    shutil.copy(ARGO_ROLLOUTS_SOURCE / "go.mod", src / "go.mod")
    package = f"{ARGO_ROLLOUTS_MODULE}/cmd/rollouts-controller"
    _go(["get", f"{package}@{ARGO_ROLLOUTS_VERSION}"], src, log)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    _go(["build", "-ldflags", "-s -w", "-o", str(partial), package], src, log)
    partial.replace(target)
    log(f"rollouts-controller built in {time.monotonic() - started:.0f}s at {target}")
    return target


def build_istio_injector(log=lambda line: print(line, file=sys.stderr, flush=True)) -> Path:
    """tests/harness/istio_injector against istio.io/istio@ISTIO_VERSION, built once into the
    cache (hack/README.md has the times; the istiod chart comes compiled in from the module)."""
    target = istio_injector_binary()
    if target.exists():
        return target
    check_go()
    started = time.monotonic()
    src = target.parent.parent / "src"
    # A fresh copy each time: go.mod gains its requirements here, never in the repository.
    shutil.rmtree(src, ignore_errors=True)
    src.mkdir(parents=True)
    for source in [ISTIO_INJECTOR_SOURCE / "go.mod", *ISTIO_INJECTOR_SOURCE.glob("*.go")]:
        shutil.copy(source, src / source.name)
    _go(["get", f"istio.io/istio@{ISTIO_VERSION}"], src, log)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    _go(["build", "-ldflags", "-s -w", "-o", str(partial), "."], src, log)
    partial.replace(target)
    log(f"istio-injector built in {time.monotonic() - started:.0f}s at {target}")
    return target


def build(log=lambda line: print(line, file=sys.stderr, flush=True)) -> dict[str, Path]:
    """Build whatever is missing from the cache and return the path of every binary."""
    if not all(path.exists() for path in binaries().values()):
        check_go()
    started = time.monotonic()
    build_etcd(log)
    build_kubernetes(log)
    log(f"control plane binaries ready in {time.monotonic() - started:.0f}s under {cache_root()}")
    return binaries()


if __name__ == "__main__":
    try:
        built = build()
        built["istio-injector"] = build_istio_injector()
    except GoMissing as error:
        sys.exit(f"error: {error}")
    for name, path in built.items():
        print(f"{name}\t{path}")
