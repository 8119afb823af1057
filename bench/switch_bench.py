#!/usr/bin/env python3
"""Benchmark `kubectl sidecar switch` over many workloads on the local control plane.

Seeds W Deployments (one replica each) whose pods become ready a known time after they start
(the kubelet simulator's ready-after knob), then switches the whole mesh back and forth at
several --concurrency values. For each run: wall time against the ideal (rollout time x
ceil(W / concurrency)), API requests per workload (from the audit log, by user agent) and peak
RSS. Results replace the switch section of BENCHMARKS.md.

    make bench-switch                                     # W=300, concurrency 5,10,20
    make bench-switch BENCH_ARGS="--workloads 100,300"    # and whether memory stays flat in W
"""

import argparse
import json
import math
import re
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench import launcher  # noqa: E402
from bench.status_bench import machine, requests_since, run_measured  # noqa: E402
from tests.harness import build, seed  # noqa: E402
from tests.harness.api import resource_path  # noqa: E402
from tests.harness.controlplane import ControlPlane  # noqa: E402
from tests.harness.kubelet_sim import READY_AFTER  # noqa: E402

NAMESPACES = 10
PLUGIN_AGENT = "kubectl-sidecar/"
BEGIN, END = "<!-- switch-bench: begin -->", "<!-- switch-bench: end -->"


def seed_workloads(plane, count, have, rollout_seconds):
    """Bring the cluster to `count` one-replica Deployments, injected traditionally."""
    admin = plane.api()
    for number in range(NAMESPACES):
        seed.namespace(admin, f"switch-{number:02d}")

    def create(index):
        seed.deployment(
            admin,
            f"switch-{index % NAMESPACES:02d}",
            f"svc{index:04d}",
            replicas=1,
            annotations={READY_AFTER: str(rollout_seconds)},
        )

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(create, range(have, count)))
    admin.wait_for(
        f"{count} ready pods", lambda: ready_pods(admin) >= count, timeout=600, interval=2
    )


def ready_pods(admin):
    ready = 0
    for pod in admin.items(resource_path("v1", "pods")):
        if not pod["metadata"]["namespace"].startswith("switch-"):
            continue
        conditions = (pod.get("status") or {}).get("conditions") or []
        ready += any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)
    return ready


def switch_once(plane, target, concurrency):
    """(wall seconds, peak RSS MiB, API requests, workloads restarted) of one mesh-wide switch."""
    env = plane.env()
    argv = [
        str(REPO / "bin" / "kubectl-sidecar"),
        "switch",
        f"--{target}",
        "-A",
        "--yes",
        "--concurrency",
        str(concurrency),
        "--timeout",
        "5m",
        "-o",
        "json",
    ]
    offset = plane.audit_log.stat().st_size
    with tempfile.NamedTemporaryFile() as out:
        env = dict(env)
        wall, rss, _ = run_measured(argv, env, out.name)
        result = json.loads(Path(out.name).read_text())["result"]
    time.sleep(1)  # the audit backend writes each event as its request completes
    if result["failed"] or result["notStarted"]:
        raise RuntimeError(f"switch --{target} did not complete: {result}")
    return wall, rss, requests_since(plane, offset, PLUGIN_AGENT), len(result["rolledOut"])


def startup(plane):
    """Start-up cost of the plugin, to add to the ideal."""
    env = plane.env()
    argv = [str(REPO / "bin" / "kubectl-sidecar"), "--help"]
    run_measured(argv, env)
    return statistics.median(run_measured(argv, env)[0] for _ in range(5))


def report(rows, rollout_seconds, start_up, measured_rollout):
    lines = [
        BEGIN,
        "## `kubectl sidecar switch` over many workloads",
        "",
        "`bench/switch_bench.py` (`make bench-switch`): one-replica Deployments whose new pods become "
        f"ready {rollout_seconds:g}s after they start (the kubelet simulator's ready-after knob), the "
        "mesh switched back and forth with `switch -A --yes` at each concurrency, on the local "
        "control plane (API server, controller manager, injector webhook and kubelet simulator "
        "sharing the machine with the plugin).",
        "",
        f"- Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; machine: {machine()}",
        f"- Rollout time: {measured_rollout:.2f}s for one workload alone (restart to rolled out, "
        f"measured here), of which {rollout_seconds:g}s is the simulated readiness delay; plugin "
        f"start-up {start_up * 1000:.0f} ms.",
        "- Ideal = rollout time x ceil(W / concurrency) + start-up.",
        "",
        "| workloads | concurrency | wall | ideal | wall / ideal | API requests | per workload "
        "| peak RSS |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        ideal = measured_rollout * math.ceil(row["workloads"] / row["concurrency"]) + start_up
        lines.append(
            f"| {row['workloads']} | {row['concurrency']} | {row['wall']:.1f}s | {ideal:.1f}s "
            f"| {row['wall'] / ideal:.2f} | {row['requests']} "
            f"| {row['requests'] / row['workloads']:.2f} | {row['rss']:.0f} MiB |"
        )
    lines += [
        "",
        "Targets: wall time within 1.3x the ideal; at most 1.5 requests per workload "
        "plus a constant; peak RSS flat in W.",
        "",
    ]
    for row in rows:
        ideal = measured_rollout * math.ceil(row["workloads"] / row["concurrency"]) + start_up
        constant = 40
        checks = [
            ("wall <= 1.3 x ideal", row["wall"] <= 1.3 * ideal),
            (
                f"requests <= 1.5 W + {constant}",
                row["requests"] <= 1.5 * row["workloads"] + constant,
            ),
        ]
        lines.append(
            f"- W={row['workloads']}, concurrency {row['concurrency']}: "
            + "; ".join(f"{what}: {'met' if ok else 'NOT met'}" for what, ok in checks)
        )
    sizes = sorted({row["workloads"] for row in rows})
    if len(sizes) > 1:
        small = max(r["rss"] for r in rows if r["workloads"] == sizes[0])
        large = max(r["rss"] for r in rows if r["workloads"] == sizes[-1])
        lines.append(
            f"- peak RSS from W={sizes[0]} to W={sizes[-1]}: {small:.0f} -> {large:.0f} MiB "
            f"({large / small - 1:+.0%})"
        )
    lines += [END, ""]
    return "\n".join(lines)


def write_section(path, section):
    """Replace (or append) the switch section of BENCHMARKS.md, keeping the rest."""
    text = path.read_text() if path.exists() else ""
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END) + "\n?", re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: section, text)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)


def one_rollout(plane, rollout_seconds):
    """Seconds from restart to rolled out for one workload on its own."""
    admin = plane.api()
    seed.namespace(admin, "switch-probe")
    seed.deployment(
        admin, "switch-probe", "probe", replicas=1, annotations={READY_AFTER: str(rollout_seconds)}
    )
    admin.wait_for(
        "the probe's pod",
        lambda: any(
            c["type"] == "Ready" and c["status"] == "True"
            for p in admin.items(resource_path("v1", "pods", "switch-probe"))
            for c in (p.get("status") or {}).get("conditions") or []
        ),
        timeout=120,
    )
    env = plane.env()
    kubectl = ["kubectl", "-n", "switch-probe"]
    samples = []
    for _ in range(3):
        started = time.monotonic()
        subprocess.run(
            kubectl + ["rollout", "restart", "deployment/probe"],
            env=env,
            check=True,
            capture_output=True,
        )
        subprocess.run(
            kubectl + ["rollout", "status", "deployment/probe", "--timeout", "2m"],
            env=env,
            check=True,
            capture_output=True,
        )
        samples.append(time.monotonic() - started)
    seed.delete_namespace(admin, "switch-probe", wait=False)
    return statistics.median(samples)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workloads", default="300", help="comma-separated W (default 300)")
    parser.add_argument(
        "--concurrency", default="5,10,20", help="comma-separated (default 5,10,20)"
    )
    parser.add_argument(
        "--rollout-seconds",
        type=float,
        default=2.0,
        help="simulated readiness delay of each new pod (default 2)",
    )
    parser.add_argument("--output", default=str(REPO / "BENCHMARKS.md"))
    args = parser.parse_args(argv)
    sizes = sorted(int(size) for size in args.workloads.split(","))
    levels = [int(level) for level in args.concurrency.split(",")]
    launcher.start()  # before seeding grows this process: see bench/launcher.py
    rows = []
    with tempfile.TemporaryDirectory(prefix="sidecar-switch-bench-") as workdir:
        plane = ControlPlane(workdir)
        plane.up()
        try:
            seed.asm_mesh(plane.api(), False)
            start_up = startup(plane)
            rollout = one_rollout(plane, args.rollout_seconds)
            print(
                f"one rollout alone: {rollout:.2f}s; start-up {start_up * 1000:.0f} ms",
                file=sys.stderr,
            )
            have, native = 0, False
            for size in sizes:
                seed_workloads(plane, size, have, args.rollout_seconds)
                have = size
                for level in levels:
                    target = "traditional" if native else "native"
                    wall, rss, requests, restarted = switch_once(plane, target, level)
                    native = not native
                    rows.append(
                        {
                            "workloads": restarted,
                            "concurrency": level,
                            "wall": wall,
                            "rss": rss,
                            "requests": requests,
                        }
                    )
                    print(json.dumps(rows[-1]), file=sys.stderr)
        finally:
            plane.down()
    section = report(rows, args.rollout_seconds, start_up, rollout)
    write_section(Path(args.output), section)
    print(section)
    print(f"kube-apiserver {build.KUBERNETES_VERSION}", file=sys.stderr)


if __name__ == "__main__":
    main()
