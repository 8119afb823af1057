"""What the archive is built from, read from git: the package files, and the last commit that
changed any input of the archive, which supplies both the commit baked into it and its timestamps.

Not HEAD: the release flow commits the manifest (with the archive's new sha256) after the code, and
that commit must not change the archive again."""

import subprocess
from pathlib import Path

# Files copied into the archive, as they are in the working tree (tracked files only).
# bin/ whole: every launcher in it (the plugin's, and any helper beside it) ships executable.
ARCHIVED = ("kubectl_sidecar", "bin", "LICENSE")
# Everything whose change changes the archive's bytes: the files above, the vendored set, and the
# code that lays out and packs the archive. krew-manifest.yaml is deliberately not among them.
INPUTS = ARCHIVED + ("vendor.lock", "release")


class SourceError(RuntimeError):
    """The checkout can't say what the archive is built from."""


def _git(repo, *args):
    try:
        done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, check=False)
    except FileNotFoundError:
        raise SourceError(
            "git is not installed: make dist reads the commit it builds from git"
        ) from None
    if done.returncode != 0:
        raise SourceError(
            f"git {' '.join(args[:2])} failed in {repo}: "
            f"{done.stderr.decode(errors='replace').strip()}"
        )
    return done.stdout


def last_input_commit(repo):
    """(commit, unix time) of the last commit that changed an input of the archive."""
    if _git(repo, "rev-parse", "--is-shallow-repository").strip() == b"true":
        raise SourceError(
            "this is a shallow clone: the archive's commit and time come from the "
            "history of its inputs (git fetch --unshallow)"
        )
    line = _git(repo, "log", "-1", "--format=%H %ct", "--", *INPUTS).decode().strip()
    if not line:
        raise SourceError(f"no commit touches {', '.join(INPUTS)} yet")
    commit, epoch = line.split()
    return commit, int(epoch)


def modified_inputs(repo):
    """Inputs that differ from the last commit (uncommitted or untracked), as git status says."""
    out = _git(repo, "status", "--porcelain", "--", *INPUTS).decode()
    return [line[3:] for line in out.splitlines()]


def archived_files(repo):
    """{path: bytes} of the tracked files the archive holds, from the working tree."""
    names = _git(repo, "ls-files", "-z", "--", *ARCHIVED).decode().split("\0")
    files = {}
    for name in filter(None, names):
        path = Path(repo) / name
        if not path.is_file():
            raise SourceError(f"{name} is tracked but missing from the working tree")
        files[name] = path.read_bytes()
    return files
