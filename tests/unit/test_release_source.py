"""The archive's commit and time come from the last commit that changed its inputs, so committing
the manifest afterwards changes neither (the release flow is not circular)."""

import subprocess

import pytest

from release import source


def _git(repo, *args, epoch):
    env = {
        "GIT_AUTHOR_DATE": f"@{epoch} +0000",
        "GIT_COMMITTER_DATE": f"@{epoch} +0000",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
        "HOME": str(repo),
        "PATH": "/usr/bin:/bin",
    }
    return subprocess.run(
        ["git", "-C", str(repo), *args], env=env, check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture
def repo(tmp_path):
    _git(tmp_path, "init", "-q", epoch=0)
    (tmp_path / "kubectl_sidecar").mkdir()
    (tmp_path / "kubectl_sidecar" / "__init__.py").write_text('__version__ = "1.0.0"\n')
    (tmp_path / "LICENSE").write_text("Apache-2.0\n")
    _git(tmp_path, "add", ".", epoch=0)
    _git(tmp_path, "commit", "-q", "-m", "code", epoch=1700000000)
    return tmp_path


def test_a_manifest_commit_after_the_code_changes_neither_commit_nor_time(repo):
    code = _git(repo, "rev-parse", "HEAD", epoch=0)
    (repo / "krew-manifest.yaml").write_text("sha256: new\n")
    _git(repo, "add", ".", epoch=0)
    _git(repo, "commit", "-q", "-m", "manifest", epoch=1700000500)
    assert source.last_input_commit(repo) == (code, 1700000000)


def test_a_code_commit_moves_both(repo):
    (repo / "kubectl_sidecar" / "cli.py").write_text("x = 1\n")
    _git(repo, "add", ".", epoch=0)
    _git(repo, "commit", "-q", "-m", "more code", epoch=1700000900)
    assert source.last_input_commit(repo) == (_git(repo, "rev-parse", "HEAD", epoch=0), 1700000900)


def test_archived_files_are_the_tracked_ones_and_changes_are_reported(repo):
    (repo / "kubectl_sidecar" / "scratch.py").write_text("untracked\n")
    assert sorted(source.archived_files(repo)) == ["LICENSE", "kubectl_sidecar/__init__.py"]
    assert source.modified_inputs(repo) == ["kubectl_sidecar/scratch.py"]


def test_a_shallow_clone_is_refused(repo, tmp_path_factory):
    clone = tmp_path_factory.mktemp("clone") / "c"
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{repo}", str(clone)], check=True)
    with pytest.raises(source.SourceError, match="shallow clone"):
        source.last_input_commit(clone)
