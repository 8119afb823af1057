"""Run measured commands from a small process, so their peak RSS is their own.

Linux carries a process's high-water RSS across fork and exec: a command started by the
benchmark (which by then holds the seeding's objects: ~100 MiB after 1,200 Deployments) reports
at least the benchmark's own RSS as its ru_maxrss. The switch benchmark's W=1200 row read 98 MiB
whatever the plugin did, which was the benchmark's own memory. Commands started from this
launcher, which is spawned before the benchmark grows and stays ~10 MiB, report their own peak.

Protocol: one JSON request per line on stdin ({"argv", "env", "stdout"}), one JSON answer per
line on stdout ({"wall", "maxrss_kib", "cpu", "returncode", "stderr"}).
"""

import json
import os
import subprocess
import sys
import tempfile
import time

_process = None


def start():
    """Start the launcher now, while the caller is still small."""
    global _process
    if _process is None:
        _process = subprocess.Popen(
            [sys.executable, __file__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
    return _process


def run(argv, env, stdout_path=None):
    """(wall seconds, peak RSS KiB, CPU seconds, exit code, stderr tail) of one command."""
    process = start()
    request = {"argv": [str(a) for a in argv], "env": env, "stdout": stdout_path}
    process.stdin.write(json.dumps(request) + "\n")
    process.stdin.flush()
    answer = json.loads(process.stdout.readline())
    return (
        answer["wall"],
        answer["maxrss_kib"],
        answer["cpu"],
        answer["returncode"],
        answer["stderr"],
    )


def _serve():
    for line in sys.stdin:
        request = json.loads(line)
        out = open(request["stdout"], "wb") if request["stdout"] else subprocess.DEVNULL
        # stderr goes to a file, not a pipe: nothing reads a pipe while wait4 blocks.
        with tempfile.TemporaryFile() as errors:
            started = time.monotonic()
            child = subprocess.Popen(request["argv"], env=request["env"], stdout=out, stderr=errors)
            _, status, usage = os.wait4(child.pid, 0)
            wall = time.monotonic() - started
            errors.seek(0)
            tail = errors.read().decode(errors="replace")[-500:]
        if out is not subprocess.DEVNULL:
            out.close()
        answer = {
            "wall": wall,
            "maxrss_kib": usage.ru_maxrss,
            "cpu": usage.ru_utime + usage.ru_stime,
            "returncode": os.waitstatus_to_exitcode(status),
            "stderr": tail,
        }
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    _serve()
