#!/usr/bin/env python3
"""Benchmark what the canary (canary.py) costs: `status --probe` against `status`, and a
switch's plan with the canary against one without (`--no-canary`), over W workloads.

Seeds W one-replica Deployments (distinct templates: each its own app label) on the local
control plane with ASM set to traditional, then for each size measures wall time (median of
--runs) and API requests (from the audit log, by user agent) of:

- `status -A` and `status -A --probe` (DESIRED from one dry-run create per workload);
- `switch --native -A --dry-run` with and without `--no-canary` (the canary before the first
  write: one GET and one dry-run create per planned workload).

Results replace the canary section of BENCHMARKS.md.

    make bench-canary                                   # W=100,1000
    make bench-canary BENCH_ARGS="--workloads 100"
"""

import argparse
import json
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench import launcher  # noqa: E402
from bench.status_bench import machine, requests_since, run_measured  # noqa: E402
from bench.switch_bench import seed_workloads  # noqa: E402
from tests.harness import build, seed  # noqa: E402
from tests.harness.controlplane import ControlPlane  # noqa: E402

PLUGIN_AGENT = "kubectl-sidecar/"
# Each measured command with the canary, and the same without it.
BASELINE = {"status --probe": "status", "switch --dry-run": "switch --dry-run --no-canary"}
BEGIN, END = "<!-- canary-bench: begin -->", "<!-- canary-bench: end -->"
COMMANDS = {
    "status": ["status", "-A"],
    "status --probe": ["status", "-A", "--probe"],
    "switch --dry-run --no-canary": ["switch", "--native", "-A", "--dry-run", "--no-canary"],
    "switch --dry-run": ["switch", "--native", "-A", "--dry-run"],
}


def measure(plane, args, runs):
    """(median wall seconds, API requests of one run) of one plugin command."""
    argv = [str(REPO / "bin" / "kubectl-sidecar"), *args]
    env = plane.env()
    walls = []
    requests = None
    for _ in range(runs):
        offset = plane.audit_log.stat().st_size
        walls.append(run_measured(argv, env)[0])
        if requests is None:
            time.sleep(1)  # the audit backend writes each event as its request completes
            requests = requests_since(plane, offset, PLUGIN_AGENT)
    return statistics.median(walls), requests


def report(rows, runs):
    lines = [
        BEGIN,
        "## What the canary costs",
        "",
        "`bench/canary_bench.py` (`make bench-canary`): W one-replica Deployments with distinct "
        "templates in 10 namespaces, ASM set to traditional, on the local control plane (API "
        "server, controller manager, the harness's injector webhook and kubelet simulator "
        "sharing the machine with the plugin). Wall time is the median of "
        f"{runs} runs; requests are the plugin's, counted in the API server's audit log.",
        "",
        f"- Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; machine: {machine()}",
        "",
        "| workloads | command | wall | canary's wall | API requests | canary's requests per "
        "workload |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    for row in rows:
        base_name = BASELINE.get(row["command"], row["command"])
        base = next(
            r for r in rows if r["workloads"] == row["workloads"] and r["command"] == base_name
        )
        extra = (row["requests"] - base["requests"]) / row["workloads"]
        slower = f"+{row['wall'] - base['wall']:.2f}s" if base is not row else "-"
        lines.append(
            f"| {row['workloads']} | `{row['command']}` | {row['wall']:.2f}s | {slower} "
            f"| {row['requests']} | {extra:.2f} |"
        )
    lines += ["", END, ""]
    return "\n".join(lines)


def write_section(path, section):
    text = path.read_text() if path.exists() else ""
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END) + "\n?", re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: section, text)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workloads", default="100,1000", help="comma-separated W")
    parser.add_argument("--runs", type=int, default=3, help="runs of each command (median)")
    parser.add_argument("--output", default=str(REPO / "BENCHMARKS.md"))
    parser.add_argument(
        "--report-only",
        metavar="ROWS.jsonl",
        help="write the section from rows a run printed on stderr, measuring nothing",
    )
    args = parser.parse_args(argv)
    if args.report_only:
        rows = [json.loads(line) for line in Path(args.report_only).read_text().splitlines()]
        section = report(rows, args.runs)
        write_section(Path(args.output), section)
        print(section)
        return
    sizes = sorted(int(size) for size in args.workloads.split(","))
    launcher.start()  # before seeding grows this process: see bench/launcher.py
    rows = []
    with tempfile.TemporaryDirectory(prefix="sidecar-canary-bench-") as workdir:
        plane = ControlPlane(workdir)
        plane.up()
        try:
            seed.asm_mesh(plane.api(), False)
            have = 0
            for size in sizes:
                seed_workloads(plane, size, have, 0)
                have = size
                for name, command in COMMANDS.items():
                    wall, requests = measure(plane, command, args.runs)
                    rows.append(
                        {"workloads": size, "command": name, "wall": wall, "requests": requests}
                    )
                    print(json.dumps(rows[-1]), file=sys.stderr)
        finally:
            plane.down()
    section = report(rows, args.runs)
    write_section(Path(args.output), section)
    print(section)
    print(f"kube-apiserver {build.KUBERNETES_VERSION}", file=sys.stderr)


if __name__ == "__main__":
    main()
