"""The release, end to end with the real tools: the archive `make dist` builds, the committed
krew-manifest.yaml checked by krew's own validator, installed by krew v0.5.0 for every platform
entry, and run through kubectl by a python3 that has none of the plugin's dependencies.

krew and validate-krew-manifest are built from the Go module proxy into the harness cache, like
the control plane. Nothing here downloads from GitHub: krew installs from --archive, and the one
command that needs a plugin index (uninstall) gets an empty local one, as `krew update` leaves.
"""

import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

from kubectl_sidecar import __version__
from release import archive, dist, manifest, source
from tests.e2e.conftest import go_missing
from tests.harness import build, seed

REPO = Path(__file__).resolve().parents[2]
MANIFEST = REPO / "krew-manifest.yaml"
PLATFORMS = [
    (p["selector"]["matchLabels"]["os"], p["selector"]["matchLabels"]["arch"])
    for p in yaml.safe_load(MANIFEST.read_text())["spec"]["platforms"]
]
HOST = (
    sys.platform,
    {"x86_64": "amd64", "aarch64": "arm64"}.get(
        platform.machine().lower(), platform.machine().lower()
    ),
)
SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"


def _log(line):
    print(line, file=sys.stderr)


@pytest.fixture(scope="module")
def krew():
    try:
        return build.build_krew()
    except build.GoMissing as error:
        go_missing(error)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The archive built twice from this checkout, as `make dist` does: (path, sha256, bytes)."""
    first, digest = dist.build_archive(tmp_path_factory.mktemp("dist-1"), log=_log)
    second, _ = dist.build_archive(tmp_path_factory.mktemp("dist-2"), log=_log)
    return first, digest, second.read_bytes()


@pytest.fixture(scope="module")
def manifest_file(built, tmp_path_factory):
    """krew-manifest.yaml naming the archive just built. On a clean checkout this is the committed
    file byte for byte (test_committed_manifest_names_the_archive_this_commit_builds checks that);
    with uncommitted code it lets the install tests run on what is there."""
    _, digest, _ = built
    path = tmp_path_factory.mktemp("manifest") / "sidecar.yaml"
    path.write_text(manifest.update(MANIFEST.read_text(), __version__, digest))
    return path


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory):
    """A python3 with nothing but the standard library: a venv made without pip."""
    venv = tmp_path_factory.mktemp("bare-python")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python3"
    for package in ("click", "kubernetes", "yaml"):
        done = subprocess.run([str(python), "-c", f"import {package}"], capture_output=True)
        assert done.returncode != 0, f"the bare python3 can import {package}"
    return python


class Krew:
    """krew v0.5.0 with its own KREW_ROOT, optionally pretending to run on another os/arch."""

    def __init__(self, binary, root, os_arch=None):
        self.binary, self.root = binary, root
        self.env = {
            "PATH": SYSTEM_PATH,
            "HOME": str(root.parent),
            "KREW_ROOT": str(root),
            "KREW_NO_UPGRADE_CHECK": "1",
        }
        if os_arch:
            self.env.update(KREW_OS=os_arch[0], KREW_ARCH=os_arch[1])

    def __call__(self, *args):
        return subprocess.run(
            [str(self.binary), *args],
            env=self.env,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=120,
        )

    def install(self, manifest_path, archive_path):
        done = self("install", f"--manifest={manifest_path}", f"--archive={archive_path}")
        assert done.returncode == 0, done.stderr
        return done

    def local_index(self):
        # uninstall insists on a cloned plugin index; a user has the default one from `krew update`.
        index = self.root / "index" / "default"
        (index / "plugins").mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "init", "-q", str(index)], check=True)

    def files(self):
        return sorted(str(path.relative_to(self.root)) for path in self.root.rglob("*"))


def run_plugin(krew_root, python, *args, env=None):
    """`kubectl-sidecar ARGS` as krew linked it, with `python` the first python3 on PATH."""
    base = {
        "PATH": os.pathsep.join([str(krew_root / "bin"), str(python.parent), SYSTEM_PATH]),
        "HOME": str(krew_root.parent),
        "KUBECONFIG": str(krew_root / "no-kubeconfig"),
    }
    return subprocess.run(
        [str(krew_root / "bin" / "kubectl-sidecar"), *args],
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def version_report(text):
    """`kubectl sidecar version` as {"kubectl-sidecar": ..., "commit": ..., "python": ..., ...}."""
    first, *rest = text.strip().splitlines()
    report = dict(line.split(":", 1) for line in rest)
    report = {key.strip(): value.strip() for key, value in report.items()}
    report["kubectl-sidecar"] = first.split()[1]
    return report


# --- the archive and the committed manifest -------------------------------------------------------


def test_archive_is_byte_identical_across_builds(built):
    path, digest, second = built
    assert path.read_bytes() == second
    assert hashlib.sha256(second).hexdigest() == digest
    assert path.with_name(path.name + ".sha256").read_text() == f"{digest}  {path.name}\n"


def test_archive_holds_launcher_package_and_every_dependency(built):
    path, _, _ = built
    commit, epoch = source.last_input_commit(REPO)
    with tarfile.open(path) as tar:
        members = {m.name: m for m in tar.getmembers()}
        info = json.loads(
            tar.extractfile(members["kubectl-sidecar/kubectl_sidecar/build-info.json"]).read()
        )
    launchers = sorted(path.name for path in (REPO / "bin").iterdir())
    assert "kubectl-sidecar" in launchers
    for name in launchers:  # every launcher in bin/, executable
        assert members[f"kubectl-sidecar/bin/{name}"].mode == 0o755, name
    assert "kubectl-sidecar/LICENSE" in members
    for package in ("click", "kubernetes", "yaml", "urllib3", "certifi", "dateutil", "requests"):
        assert f"kubectl-sidecar/vendor/{package}/__init__.py" in members, package
    compiled = [name for name in members if name.endswith((".so", ".pyd", ".dylib", ".pyc"))]
    assert compiled == []
    assert {m.mtime for m in members.values()} == {epoch}
    assert {(m.uid, m.gid, m.uname, m.gname) for m in members.values()} == {(0, 0, "", "")}
    assert info["commit"] == commit


def test_committed_manifest_names_the_archive_this_commit_builds(built):
    """The test that fails when code changed and the manifest's sha256 did not."""
    modified = source.modified_inputs(REPO)
    if modified:
        pytest.skip(
            f"uncommitted changes in {', '.join(modified)}: the committed manifest can only "
            "match committed code"
        )
    path, digest, _ = built
    spec = yaml.safe_load(MANIFEST.read_text())["spec"]
    assert spec["version"] == f"v{__version__}"
    for entry in spec["platforms"]:
        assert entry["uri"].endswith(f"/v{__version__}/{path.name}")
        assert entry["sha256"] == digest, (
            f"krew-manifest.yaml names sha256 {entry['sha256']}, but this commit builds {digest}: "
            "run `make manifest` and commit krew-manifest.yaml"
        )


def test_krews_validator_accepts_the_manifest(krew, tmp_path):
    # The validator wants the file named after the plugin; its install step downloads the uri
    # (not published yet), so installs are tested below with --archive instead.
    named = tmp_path / "sidecar.yaml"
    shutil.copy(MANIFEST, named)
    done = subprocess.run(
        [str(krew["validate-krew-manifest"]), "-manifest", str(named), "-skip-install"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "no overlapping spec.platform[].selector" in done.stderr


def test_manifest_covers_linux_and_darwin_on_amd64_and_arm64_and_not_windows():
    assert sorted(PLATFORMS) == [
        ("darwin", "amd64"),
        ("darwin", "arm64"),
        ("linux", "amd64"),
        ("linux", "arm64"),
    ]


# --- installing with krew ---------------------------------------------------------------------


@pytest.mark.parametrize("os_arch", PLATFORMS, ids=["/".join(p) for p in PLATFORMS])
def test_krew_installs_every_platform_entry(
    krew, built, manifest_file, bare_python, tmp_path, os_arch
):
    path, _, _ = built
    tool = Krew(krew["krew"], tmp_path / "krew", None if os_arch == HOST else os_arch)
    tool.install(manifest_file, path)
    link = tool.root / "bin" / "kubectl-sidecar"
    store = tool.root / "store" / "sidecar" / f"v{__version__}"
    assert link.is_symlink() and link.resolve() == (store / "bin" / "kubectl-sidecar").resolve()
    assert os.access(link, os.X_OK)
    assert (store / "LICENSE").is_file() and (store / "vendor" / "kubernetes").is_dir()
    # The same files serve every platform, so each install runs here.
    done = run_plugin(tool.root, bare_python, "version")
    assert done.returncode == 0, done.stderr
    report = version_report(done.stdout)
    assert report["kubectl-sidecar"] == __version__
    assert report["python"].endswith(f"({bare_python})")
    assert re.fullmatch(r"35\.\d+\.\d+ \(vendored\)", report["kubernetes"])


def test_krew_uninstall_leaves_nothing_behind(krew, built, manifest_file, bare_python, tmp_path):
    path, _, _ = built
    tool = Krew(krew["krew"], tmp_path / "krew")
    tool.local_index()
    assert tool("version").returncode == 0  # krew lays out its own directories first
    before = tool.files()
    tool.install(manifest_file, path)
    assert run_plugin(tool.root, bare_python, "--help").returncode == 0  # writes __pycache__
    done = tool("uninstall", "sidecar")
    assert done.returncode == 0, done.stderr
    assert tool.files() == before


def _older_release(built, tmp_path):
    """This archive repacked as version 0.0.9 from another commit, with a manifest for it."""
    path, _, _ = built
    files = {}
    with tarfile.open(path) as tar:
        for member in tar.getmembers():
            if member.isfile():
                files[member.name] = tar.extractfile(member).read()
            epoch = member.mtime
    init = "kubectl-sidecar/kubectl_sidecar/__init__.py"
    files[init] = re.sub(rb'__version__ = "[^"]+"', b'__version__ = "0.0.9"', files[init])
    files["kubectl-sidecar/kubectl_sidecar/build-info.json"] = dist.build_info(
        "0" * 40, epoch, False
    )
    old = tmp_path / "kubectl-sidecar-v0.0.9-krew.tar.gz"
    old.write_bytes(archive.tar_gz(files, epoch, executables=dist.executables(files)))
    old_manifest = tmp_path / "old" / "sidecar.yaml"
    old_manifest.parent.mkdir()
    old_manifest.write_text(
        manifest.update(MANIFEST.read_text(), "0.0.9", hashlib.sha256(old.read_bytes()).hexdigest())
    )
    return old, old_manifest


def test_an_older_version_is_replaced_by_this_one(
    krew, built, manifest_file, bare_python, tmp_path
):
    path, _, _ = built
    old, old_manifest = _older_release(built, tmp_path)
    tool = Krew(krew["krew"], tmp_path / "krew")
    tool.local_index()
    tool.install(old_manifest, old)
    assert (
        version_report(run_plugin(tool.root, bare_python, "version").stdout)["kubectl-sidecar"]
        == "0.0.9"
    )
    # krew upgrade takes no local manifest or archive, and skips what was installed from one.
    upgrade = tool("upgrade", "--no-update-index", "sidecar")
    assert "installed via manifest" in upgrade.stderr
    assert tool("uninstall", "sidecar").returncode == 0
    tool.install(manifest_file, path)
    report = version_report(run_plugin(tool.root, bare_python, "version").stdout)
    assert report["kubectl-sidecar"] == __version__
    assert report["commit"].split()[0] == source.last_input_commit(REPO)[0]
    assert sorted(p.name for p in (tool.root / "store" / "sidecar").iterdir()) == [
        f"v{__version__}"
    ]


# --- the krew-installed plugin against a real control plane -----------------------------------


def _bare_pythons():
    """This Python, and 3.10 (the oldest supported) when the machine has one."""
    found = [pytest.param(None, id=f"python{sys.version_info[0]}.{sys.version_info[1]}")]
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    for candidate in [shutil.which("python3.10"), *sorted(pyenv.glob("3.10*/bin/python3.10"))]:
        if (
            candidate
            and subprocess.run(
                [str(candidate), "-c", "import venv"], capture_output=True
            ).returncode
            == 0
        ):
            found.append(pytest.param(str(candidate), id="python3.10"))
            break
    return found


@pytest.fixture(scope="module")
def shop(asm_mesh):
    """Two workloads injected natively while ASM says native."""
    admin = asm_mesh
    seed.asm_mesh(admin, True)
    seed.namespace(admin, "krew-shop")
    seed.deployment(admin, "krew-shop", "cart")
    seed.statefulset(admin, "krew-shop", "ledger")
    seed.wait_for_pods(admin, "krew-shop", 4)
    yield "krew-shop"
    seed.delete_namespace(admin, "krew-shop", wait=False)


@pytest.mark.parametrize("interpreter", _bare_pythons())
def test_krew_installed_plugin_runs_through_kubectl_on_a_bare_python3(
    krew, built, manifest_file, control_plane, kubectl, shop, tmp_path, interpreter
):
    path, _, _ = built
    venv = tmp_path / "bare"
    subprocess.run(
        [interpreter or sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True
    )
    bare = venv / "bin" / "python3"
    tool = Krew(krew["krew"], tmp_path / "krew")
    # `kubectl krew install`: kubectl runs krew as its plugin, as users run it.
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "kubectl-krew").symlink_to(krew["krew"])
    kubectl_dir = str(Path(control_plane.state["kubectl"]).parent)
    env = {
        **tool.env,
        "PATH": os.pathsep.join(
            [str(tool.root / "bin"), str(venv / "bin"), kubectl_dir, str(plugins), SYSTEM_PATH]
        ),
        "KUBECONFIG": str(control_plane.kubeconfig),
        "NO_PROXY": "127.0.0.1,localhost",
    }

    def run(*args):
        return subprocess.run(
            ["kubectl", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
            stdin=subprocess.DEVNULL,
        )

    done = run("krew", "install", f"--manifest={manifest_file}", f"--archive={path}")
    assert done.returncode == 0, done.stderr
    version = run("sidecar", "version")
    assert version.returncode == 0, version.stderr
    report = version_report(version.stdout)
    assert report["python"].endswith(f"({bare})") and "(vendored)" in report["kubernetes"]

    status = run("sidecar", "status", "-A")
    assert status.returncode == 0, status.stderr
    rows = [line.split() for line in status.stdout.splitlines() if line.startswith(shop + " ")]
    assert len(rows) == 4 and {row[4] for row in rows} == {"native"}
    assert "Mesh asm: native" in status.stdout

    plan = run("sidecar", "switch", "--traditional", "--dry-run")
    assert plan.returncode == 0, plan.stderr
    assert "ASMMeshConfig default" in plan.stdout and "Dry run: nothing was changed." in plan.stdout
    for workload in ("Deployment/cart", "StatefulSet/ledger"):
        assert workload in plan.stdout
    # A dry run changes nothing.
    assert seed.modes(control_plane.api(), shop) == ["native"] * 4


# --- the wheel, for pip and pipx ---------------------------------------------------------------


def test_the_wheel_installs_offline_and_runs(tmp_path):
    dist.build_python_dists(tmp_path / "dist", epoch=source.last_input_commit(REPO)[1])
    (wheel,) = (tmp_path / "dist").glob(f"kubectl_sidecar-{__version__}-py3-none-any.whl")
    target = tmp_path / "site"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-index",
            "--no-deps",
            "--target",
            str(target),
            str(wheel),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    # The console script pip wrote, with this Python's click and kubernetes beside the target.
    run = subprocess.run(
        [sys.executable, str(target / "bin" / "kubectl-sidecar"), "version"],
        env=dict(os.environ, PYTHONPATH=str(target)),
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    report = version_report(run.stdout)
    assert report["kubectl-sidecar"] == __version__ and report["commit"] == "unknown"
