"""`make dist`: the krew archive (launcher, package and every runtime dependency vendored), then
the wheel and sdist, into dist/.

    python -m release.dist [--out DIR] [--archive-only]
"""

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

from release import archive, lockfile, pypi, source, vendor

REPO = Path(__file__).resolve().parents[1]
TOP = "kubectl-sidecar"  # the archive's one top-level directory; the manifest's files[].from
LAUNCHER = f"{TOP}/bin/kubectl-sidecar"
ERRORS = (lockfile.LockError, pypi.FetchError, vendor.VendorError, source.SourceError, OSError)


def version(repo=REPO):
    text = (Path(repo) / "kubectl_sidecar" / "__init__.py").read_text()
    return re.search(r'^__version__ = "([^"]+)"', text, re.MULTILINE)[1]


def archive_name(plugin_version):
    # "-krew" keeps it apart from the sdist, kubectl-sidecar-X.Y.Z.tar.gz, in the same release.
    return f"kubectl-sidecar-v{plugin_version}-krew.tar.gz"


def build_info(commit, epoch, modified):
    """kubectl_sidecar/build-info.json in the archive: what `kubectl sidecar version` reports."""
    info = {"commit": commit, "epoch": epoch}
    if modified:
        info["modified"] = True
    return (json.dumps(info, sort_keys=True, indent=1) + "\n").encode()


def archive_files(repo, fetch, log):
    """({archive path: bytes}, commit, epoch) for the krew archive of the checkout at `repo`."""
    commit, epoch = source.last_input_commit(repo)
    modified = source.modified_inputs(repo)
    if modified:
        log(
            f"warning: uncommitted changes in {', '.join(modified)}: this archive is not the one "
            f"commit {commit[:12]} gives; its sha256 won't match a manifest made from that commit"
        )
    entries = lockfile.parse((Path(repo) / "vendor.lock").read_text())
    files = {f"{TOP}/{path}": data for path, data in source.archived_files(repo).items()}
    files[f"{TOP}/kubectl_sidecar/build-info.json"] = build_info(commit, epoch, bool(modified))
    for path, data in vendor.tree(entries, fetch).items():
        files[f"{TOP}/vendor/{path}"] = data
    return files, commit, epoch


def executables(files):
    """The archive paths that get mode 0755: everything in bin/."""
    return {path for path in files if path.startswith(f"{TOP}/bin/")}


def build_archive(out_dir, repo=REPO, log=lambda line: print(line, file=sys.stderr)):
    """Write dist/kubectl-sidecar-vX.Y.Z-krew.tar.gz (and its .sha256); return (path, sha256)."""
    files, commit, epoch = archive_files(repo, lambda entry: pypi.fetch(entry, log=log), log)
    data = archive.tar_gz(files, epoch, executables=executables(files))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / archive_name(version(repo))
    path.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    path.with_name(path.name + ".sha256").write_text(f"{digest}  {path.name}\n")
    log(
        f"{path}: {len(data) / 2**20:.1f} MiB, {len(files)} files, sha256 {digest}, "
        f"from commit {commit[:12]}"
    )
    return path, digest


def build_python_dists(out_dir, repo=REPO, epoch=None):
    """The wheel and sdist, with `python -m build`, from the build tools already installed (make's
    venv has them), so no download is needed."""
    env = dict(os.environ)
    if epoch is not None:
        env["SOURCE_DATE_EPOCH"] = str(epoch)  # wheel and sdist timestamps
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "build",
            "--no-isolation",
            "--sdist",
            "--wheel",
            "--outdir",
            str(out_dir),
            str(repo),
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-10:])
        raise source.SourceError(f"python -m build failed (pip install build wheel):\n{tail}")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="make dist", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out", default=str(REPO / "dist"), help="output directory (default dist/)"
    )
    parser.add_argument("--archive-only", action="store_true", help="only the krew archive")
    args = parser.parse_args(argv)
    try:
        built = [build_archive(args.out)[0]]
        if not args.archive_only:
            build_python_dists(args.out, epoch=source.last_input_commit(REPO)[1])
            out = Path(args.out)
            # The sdist is kubectl-sidecar-X.tar.gz (older setuptools) or kubectl_sidecar-X.tar.gz.
            built += sorted(out.glob(f"kubectl[-_]sidecar-{version()}.tar.gz"))
            built += sorted(out.glob(f"kubectl_sidecar-{version()}-*.whl"))
    except ERRORS as error:
        sys.exit(f"error: {error}")
    for path in built:
        print(path)


if __name__ == "__main__":
    main()
