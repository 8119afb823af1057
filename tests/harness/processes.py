"""The processes of one control plane: started in their own sessions, recorded in a state file, so
whoever comes next (`down`, a fixture's teardown, the next `up` in the same directory) can kill
what a crashed or interrupted run left behind."""

import json
import os
import signal
import subprocess
import time
from pathlib import Path

STOP_WAIT = 10  # seconds for killed processes to be gone


class Processes:
    """Named processes, their logs under `logs`, their pids in `state_file` beside other state."""

    def __init__(self, state_file: Path, logs: Path, cwd: Path):
        self.state_file, self.logs, self.cwd = state_file, logs, cwd
        self.state = {}

    def load(self) -> dict:
        if not self.state and self.state_file.exists():
            self.state = json.loads(self.state_file.read_text())
        return self.state

    def save(self) -> None:
        self.state_file.write_text(json.dumps(self.state, indent=2))

    def start(self, name: str, argv: list) -> subprocess.Popen:
        with open(self.logs / f"{name}.log", "ab") as out:
            process = subprocess.Popen(
                argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.cwd,
                start_new_session=True,
            )
        # Recorded before anything else can fail, so a later failure still stops it.
        self.state.setdefault("pids", {})[name] = process.pid
        self.save()
        time.sleep(0.2)
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited at once: {self.tail(name)}")
        return process

    def stop(self, name: str) -> None:
        """Kill one recorded process (its group) and wait until it is gone."""
        pid = self.state["pids"][name]
        _signal_group(pid, signal.SIGKILL)
        deadline = time.monotonic() + STOP_WAIT
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)

    def alive(self, name: str) -> bool:
        return alive(self.state["pids"][name])

    def tail(self, name: str, lines: int = 15) -> str:
        path = self.logs / f"{name}.log"
        return (
            "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
            if path.exists()
            else ""
        )

    def stop_all(self) -> None:
        """Kill every recorded process group and forget the state; safe to call twice.

        SIGKILL at once: nothing of a test control plane is worth a graceful stop (the next `up`
        deletes etcd's data), and on SIGTERM kube-apiserver took over 20 s to drain (measured
        2026-11-25), a third of the e2e tier's time spent in teardowns."""
        pids = (self.load() or {}).get("pids", {})
        for pid in pids.values():
            _signal_group(pid, signal.SIGKILL)
        deadline = time.monotonic() + STOP_WAIT
        for pid in pids.values():
            while alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
        self.state_file.unlink(missing_ok=True)
        self.state = {}


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child of ours is not alive
        waited, _ = os.waitpid(pid, os.WNOHANG)
        return waited == 0
    except ChildProcessError:
        return True


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass
