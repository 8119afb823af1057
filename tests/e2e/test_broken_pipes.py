"""Output whose reader goes away (`| head`): a read-only command ends quietly as kubectl does; a
switch goes on to its end, since stopping mid-write would leave the mesh half switched."""

import os
import subprocess

import pytest

from tests.harness import seed

WORKLOADS = ("aaa", "bbb", "ccc", "ddd")


@pytest.fixture
def traditional_namespace(admin, asm_mesh, fresh_namespace):
    seed.asm_mesh(admin, False)
    for name in WORKLOADS:
        seed.deployment(admin, fresh_namespace, name, replicas=1)
    seed.wait_for_pods(admin, fresh_namespace, len(WORKLOADS))
    return fresh_namespace


def _switch(kubectl, ns, **streams):
    return subprocess.Popen(
        ["kubectl", "sidecar", "switch", "--native", "-n", ns, "--yes", "--concurrency", "1"],
        env=kubectl.env,
        text=True,
        **streams,
    )


def _switched(admin, ns):
    seed.wait_for_pods(admin, ns, len(WORKLOADS))
    return seed.modes(admin, ns) == ["native"] * len(WORKLOADS)


def test_a_switch_whose_only_pipe_closes_early_still_finishes(
    admin, kubectl, traditional_namespace
):
    # `kubectl sidecar switch ... 2>&1 | head -1`: both streams go to one pipe, read once.
    ns = traditional_namespace
    run = _switch(kubectl, ns, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert run.stdout.readline()
    run.stdout.close()
    assert run.wait(timeout=600) == 0
    assert _switched(admin, ns)


def test_a_switch_whose_stdout_closes_early_finishes_and_exits_0(
    admin, kubectl, traditional_namespace, tmp_path
):
    # `kubectl sidecar switch ... | head -1`: the plan and report are on stdout.
    ns = traditional_namespace
    with open(tmp_path / "stderr", "w") as stderr:
        run = _switch(kubectl, ns, stdout=subprocess.PIPE, stderr=stderr)
        assert run.stdout.readline()
        run.stdout.close()
        code = run.wait(timeout=600)
    said = (tmp_path / "stderr").read_text()
    assert code == 0, said
    assert "Traceback" not in said and "BrokenPipe" not in said
    assert _switched(admin, ns)


def test_status_into_a_closed_pipe_ends_quietly_with_141(kubectl, traditional_namespace):
    # As kubectl ended by SIGPIPE: the shell's 128 + 13, nothing on stderr. The reader is gone
    # before the first line, so the first write fails whatever the table's size.
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        status = subprocess.run(
            ["kubectl", "sidecar", "status", "-A"],
            env=kubectl.env,
            text=True,
            stdout=write_end,
            stderr=subprocess.PIPE,
            timeout=120,
        )
    finally:
        os.close(write_end)
    assert status.returncode == 141
    assert status.stderr == ""
