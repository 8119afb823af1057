#!/usr/bin/env python3
"""Benchmark `kubectl sidecar status -A` against `kubectl get pods -A -o json` on one real API server.

Seeds N injected pods (default 10,000) into the local control plane, then alternates the two
commands several times and reports medians of wall time and peak RSS, the number of API requests
the plugin made (from the API server's audit log, by user agent), and `--help` start-up time.
The floor (bench/floor.py: a plain paginated fetch + parse of the same pages) runs in the same
rotation, and status is reported against it too.
Several sizes (--sizes 10000,50000) show how memory grows. First, on 20 pods, status -A against
`kubectl get pods -A` as users run it (krew-installed) beside the floor of any Python plugin: its
own section of BENCHMARKS.md, which --small-only measures and rewrites alone. Results go to
BENCHMARKS.md.

--fleet 5000,25000 measures a fleet instead: `status -A` (table and -o json) over two contexts
of N pods each, its own section of BENCHMARKS.md (status-fleet); --baseline names another
bin/kubectl-sidecar (an older checkout) whose -o json runs in the same rotation.

    make bench                                   # 10,000 pods
    make bench BENCH_ARGS="--sizes 10000,50000"  # and whether memory stays flat
    make bench BENCH_ARGS="--fleet 5000,25000"   # a fleet of two contexts
    make bench BENCH_ARGS=--small-only           # the small cluster only (a minute)
"""

import argparse
import json
import math
import os
import platform
import random
import re
import shutil
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
from kubectl_sidecar.cluster import PAGE_SIZE  # noqa: E402
from tests.harness import build, seed  # noqa: E402
from tests.harness.api import resource_path  # noqa: E402
from tests.harness.controlplane import ADMIN_TOKEN, ControlPlane  # noqa: E402
from tests.harness.injector import inject  # noqa: E402

PODS_PER_REPLICASET = 10
NAMESPACES = 50
PLUGIN_AGENT = "kubectl-sidecar/"
FLOOR_TARGET = 1.3  # status -A's wall time at most this many times the floor's


# --- seeding ---------------------------------------------------------------------------------


def _pod(ns, replicaset, index, native):
    app = replicaset["metadata"]["name"].rsplit("-", 1)[0]
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"{replicaset['metadata']['name']}-{index:05d}",
            "namespace": ns,
            "labels": {"app": app, "pod-template-hash": "7d9c8b6f5"},
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": replicaset["metadata"]["name"],
                    "uid": replicaset["metadata"]["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "containers": [
                {
                    "name": app,
                    "image": seed.APP_IMAGE,
                    "ports": [{"containerPort": 8080}],
                    "env": [{"name": "LOG_LEVEL", "value": "info"}],
                }
            ],
            "nodeName": f"node-{index % 3 + 1}",
        },
    }
    return inject(pod, ns, native)


def seed_pods(plane, total, already):
    """Bring the cluster to `total` pods (Deployment-owned ReplicaSets, 70% traditional)."""
    admin = plane.api()
    rng = random.Random(total)
    started = time.monotonic()
    jobs = []
    for number in range(already // PODS_PER_REPLICASET, total // PODS_PER_REPLICASET):
        ns = f"bench-{number % NAMESPACES:02d}"
        jobs.append((ns, f"svc{number:05d}", rng.random() < 0.3))

    def create_workload(job):
        ns, name, native = job
        replicaset = admin.create(
            resource_path("apps/v1", "replicasets", ns),
            {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "metadata": {
                    "name": f"{name}-7d9c8b6f5",
                    "ownerReferences": [
                        {
                            "apiVersion": "apps/v1",
                            "kind": "Deployment",
                            "name": name,
                            "uid": f"uid-{name}",
                            "controller": True,
                        }
                    ],
                },
                "spec": {
                    "replicas": PODS_PER_REPLICASET,
                    "selector": {"matchLabels": {"app": name, "pod-template-hash": "7d9c8b6f5"}},
                    "template": {
                        "metadata": {"labels": {"app": name, "pod-template-hash": "7d9c8b6f5"}},
                        "spec": {"containers": [{"name": name, "image": seed.APP_IMAGE}]},
                    },
                },
            },
        )
        for index in range(PODS_PER_REPLICASET):
            admin.create(resource_path("v1", "pods", ns), _pod(ns, replicaset, index, native))

    for number in range(NAMESPACES):
        seed.namespace(admin, f"bench-{number:02d}", injection=False)
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(create_workload, jobs))
    elapsed = time.monotonic() - started
    created = total - already
    print(
        f"seeded {created} pods in {elapsed:.0f}s ({created / max(elapsed, 0.001):.0f}/s)",
        file=sys.stderr,
    )
    return elapsed


# --- measuring -----------------------------------------------------------------------------


def run_measured(argv, env, stdout_path=None):
    """(wall seconds, peak RSS in MiB, CPU seconds) of one command, its output discarded (or
    written to stdout_path). Run by bench/launcher.py, so the peak is the command's own."""
    wall, maxrss_kib, cpu, returncode, errors = launcher.run(argv, env, stdout_path)
    if returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, argv))} exited {returncode}: {errors}")
    # ru_maxrss is in KiB on Linux; CPU (user + system) is what load on the machine distorts least.
    return wall, maxrss_kib / 1024, cpu


def count_requests(plane, argv, env, agent_prefix):
    """API requests made by one run of argv, from the audit log, by user agent."""
    offset = plane.audit_log.stat().st_size
    run_measured(argv, env)
    time.sleep(1)  # the audit backend writes each event as the request completes
    return requests_since(plane, offset, agent_prefix)


def requests_since(plane, offset, agent_prefix):
    """Completed requests in the audit log after byte offset, from user agents with this prefix."""
    count = 0
    with open(plane.audit_log, "rb") as log:
        log.seek(offset)
        for line in log:
            event = json.loads(line)
            if event.get("stage") == "ResponseComplete" and event.get("userAgent", "").startswith(
                agent_prefix
            ):
                count += 1
    return count


def measure(plane, pods, runs):
    env = plane.env()
    plugin = ["kubectl", "sidecar", "status", "-A"]
    plugin_direct = [str(REPO / "bin" / "kubectl-sidecar"), "status", "-A"]
    reference = ["kubectl", "get", "pods", "-A", "-o", "json"]
    # The floor: what fetching and parsing the same pages costs a Python process, nothing else.
    floor = [
        sys.executable,
        str(REPO / "bench" / "floor.py"),
        "--server",
        plane.state["server"],
        "--token",
        ADMIN_TOKEN,
        "--ca",
        str(plane.certs / "ca.crt"),
        "--limit",
        str(PAGE_SIZE),
    ]
    for argv in (plugin, reference, floor):  # warm the page cache and the API server's watch cache
        run_measured(argv, env)
    samples = {"plugin": [], "plugin-direct": [], "kubectl": [], "floor": []}
    for _ in range(runs):
        samples["kubectl"].append(run_measured(reference, env))
        samples["plugin"].append(run_measured(plugin, env))
        samples["floor"].append(run_measured(floor, env))
        samples["plugin-direct"].append(run_measured(plugin_direct, env))
    medians = {
        name: tuple(statistics.median(sample[i] for sample in values) for i in range(3))
        for name, values in samples.items()
    }
    # Each run's status against the floor run just before it: the load on a shared machine drifts.
    floor_ratios = [
        direct[0] / below[0]
        for below, direct in zip(samples["floor"], samples["plugin-direct"], strict=True)
    ]
    # -o json and -o yaml: streamed a page at a time as the table is, so their peak should be
    # the table's. Fewer runs: a peak RSS hardly varies from run to run.
    documents = {
        output: [run_measured(plugin_direct + ["-o", output], env) for _ in range(2)]
        for output in ("json", "yaml")
    }
    medians["documents"] = {
        output: tuple(statistics.median(sample[i] for sample in values) for i in range(3))
        for output, values in documents.items()
    }
    requests = count_requests(plane, plugin_direct, env, PLUGIN_AGENT)
    kubectl_requests = count_requests(plane, reference, env, "kubectl/")
    return {
        "pods": pods,
        "runs": runs,
        "medians": medians,
        "requests": requests,
        "kubectl_requests": kubectl_requests,
        "request_budget": math.ceil(pods / 500) + 10,
        "floor_ratio": statistics.median(floor_ratios),
    }


SMALL_CLUSTER = 20  # pods: the clusters most people run the plugin on
SMALL_TARGET = 3.0  # status -A within this many times `kubectl get pods -A` there
# What every run of the small row starts: kubectl finding and exec'ing a plugin that is a python3
# doing nothing. Below it no Python plugin can go.
FLOOR_PLUGIN = "kubectl-pythonfloor"


def small_commands(plane, krew_path, workdir):
    """{name: (argv, env)} of the small row. Python's bytecode cache is on, as a user's runs
    have it: an environment that says PYTHONDONTWRITEBYTECODE (this lab's does) would time
    compiling the package on every run, ~170 ms of the ~220."""
    env = {key: value for key, value in plane.env().items() if key != "PYTHONDONTWRITEBYTECODE"}
    # The harness writes its kubeconfig as JSON; users' are YAML as kubectl writes them.
    kubeconfig = Path(workdir) / "kubeconfig.yaml"
    kubeconfig.write_text(
        subprocess.run(
            ["kubectl", "config", "view", "--raw"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    env["KUBECONFIG"] = str(kubeconfig)
    kubectl_dir = str(Path(plane.state["kubectl"]).parent)
    floor_dir = Path(workdir) / "floor-bin"
    floor_dir.mkdir(exist_ok=True)
    floor = floor_dir / FLOOR_PLUGIN
    floor.write_text("#!/usr/bin/env python3\n")
    floor.chmod(0o755)
    krew_env = dict(
        env, PATH=os.pathsep.join([*krew_path, kubectl_dir, str(floor_dir), "/usr/bin:/bin"])
    )
    python = str(Path(krew_path[1]) / "python3")  # the packageless python3 krew's plugin runs
    return {
        "kubectl": (["kubectl", "get", "pods", "-A"], env),
        "krew": (["kubectl", "sidecar", "status", "-A"], krew_env),
        "checkout": (["kubectl", "sidecar", "status", "-A"], env),
        "floor": (["kubectl", FLOOR_PLUGIN.removeprefix("kubectl-")], krew_env),
        "python": ([python, "-c", "pass"], krew_env),
        "python -S": ([python, "-S", "-c", "pass"], krew_env),
    }


def measure_small(plane, runs, krew_path, workdir):
    """status -A against `kubectl get pods -A` (the table, as a user types it) on a small
    cluster, where start-up is most of the time: medians (wall, CPU) of interleaved runs,
    through kubectl as krew installs the plugin ("krew", what users get) and from this
    checkout ("checkout": the development venv's python3), beside the floor of any Python
    plugin and the interpreter's own start with and without site."""
    commands = small_commands(plane, krew_path, workdir)
    for argv, env in commands.values():  # also writes the bytecode caches
        run_measured(argv, env)
    samples = {name: [] for name in commands}
    load_before = os.getloadavg()
    for _ in range(runs):
        for name, (argv, env) in commands.items():
            samples[name].append(run_measured(argv, env))
    load_after = os.getloadavg()
    medians = {
        name: (statistics.median(s[0] for s in values), statistics.median(s[2] for s in values))
        for name, values in samples.items()
    }
    instructions = {}
    if shutil.which("valgrind"):
        plugin = shutil.which("kubectl-sidecar", path=commands["krew"][1]["PATH"])
        python = commands["python"][0][0]
        for name, argv in (
            ("krew", [python, plugin, "status", "-A"]),
            ("python", [python, "-c", "pass"]),
        ):
            instructions[name] = count_instructions(argv, commands["krew"][1])
    return {
        "runs": runs,
        "medians": medians,
        "instructions": instructions,
        "load": (load_before, load_after),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def count_instructions(argv, env):
    """Instructions one run of argv executes (valgrind's callgrind, the process itself): unlike
    time, the same on a busy machine as on an idle one."""
    with tempfile.NamedTemporaryFile() as log:
        subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                "--callgrind-out-file=/dev/null",
                f"--log-file={log.name}",
                *argv,
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            check=True,
        )
        found = re.search(rb"Collected : (\d+)", Path(log.name).read_bytes())
    return int(found.group(1)) if found else None


def small_report(small):
    """BENCHMARKS.md's small-cluster section (its own marked section, so that
    `--small-only` rewrites it alone)."""
    m = small["medians"]
    kubectl, krew, checkout, floor = m["kubectl"], m["krew"], m["checkout"], m["floor"]
    before, after = small["load"]
    ratio = krew[0] / kubectl[0]
    lines = [
        "<!-- small-cluster: begin -->",
        f"## A small cluster ({SMALL_CLUSTER} pods)",
        "",
        f"`bench/status_bench.py` (`make bench`, or `--small-only` for this section alone), "
        f"{small['date']}, {machine()}. Median of {small['runs']} interleaved runs of each "
        "command against the same API server, output to /dev/null, bytecode caches written by a "
        "first run, the kubeconfig as `kubectl config view --raw` writes it. Load average "
        f"(1, 5, 15 min) {before[0]:.1f}, {before[1]:.1f}, {before[2]:.1f} at the start, "
        f"{after[0]:.1f}, {after[1]:.1f}, {after[2]:.1f} at the end.",
        "",
        "| command | wall | CPU (user + system) | wall / kubectl's |",
        "|---|---:|---:|---:|",
    ]
    rows = [
        ("kubectl", "`kubectl get pods -A`"),
        ("krew", "`kubectl sidecar status -A`, krew-installed (python3 without packages)"),
        ("checkout", "`kubectl sidecar status -A` from this checkout (the dev venv's python3)"),
        (
            "floor",
            f"`kubectl {FLOOR_PLUGIN.removeprefix('kubectl-')}`: a plugin that is an empty "
            "python3 script",
        ),
        ("python", "`python3 -c pass` (the same python3)"),
        ("python -S", "`python3 -S -c pass` (no site)"),
    ]
    for name, label in rows:
        wall, cpu = m[name]
        lines.append(
            f"| {label} | {wall * 1000:.0f} ms | {cpu * 1000:.0f} ms | {wall / kubectl[0]:.2f}x |"
        )
    lines += [
        "",
        f"- status -A on {SMALL_CLUSTER} pods within {SMALL_TARGET:g}x `kubectl get pods -A` "
        f"(krew-installed, as users run it): {'met' if ratio <= SMALL_TARGET else 'NOT met'} "
        f"({ratio:.2f}x; from the checkout {checkout[0] / kubectl[0]:.2f}x)",
        f"- The floor of any Python plugin (kubectl's plugin exec and an empty python3) is "
        f"{floor[0] / kubectl[0]:.2f}x `kubectl get pods -A`; status -A is "
        f"{(krew[0] - floor[0]) * 1000:.0f} ms above it.",
    ]
    counted = small.get("instructions") or {}
    if counted.get("krew") and counted.get("python"):
        lines.append(
            f"- Instructions (valgrind's callgrind, unmoved by the load): the krew-installed "
            f"`status -A` {counted['krew'] / 1e6:.0f} million, `python3 -c pass` "
            f"{counted['python'] / 1e6:.0f} million."
        )
    lines += [
        "<!-- small-cluster: end -->",
    ]
    return "\n".join(lines) + "\n"


def krew_install(workdir):
    """The plugin as krew users get it: `make dist`'s archive installed by krew v0.5.0 into a
    temporary KREW_ROOT, and a python3 with no packages. Returns the PATH entries for both."""
    from release import dist, manifest

    workdir = Path(workdir)
    krew = build.build_krew()
    archive_path, digest = dist.build_archive(workdir / "dist", log=lambda line: None)
    manifest_path = workdir / "sidecar.yaml"
    manifest_path.write_text(manifest.update(manifest.MANIFEST.read_text(), dist.version(), digest))
    root = workdir / "krew"
    subprocess.run(
        [str(krew["krew"]), "install", f"--manifest={manifest_path}", f"--archive={archive_path}"],
        env={
            "PATH": "/usr/bin:/bin",
            "HOME": str(workdir),
            "KREW_ROOT": str(root),
            "KREW_NO_UPGRADE_CHECK": "1",
        },
        check=True,
        capture_output=True,
        stdin=subprocess.DEVNULL,
    )
    bare = workdir / "bare-python"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True)
    return [str(root / "bin"), str(bare / "bin")]


KREW_LABEL = "kubectl sidecar --help (krew-installed, python3 without packages)"
NO_BYTECODE_LABEL = KREW_LABEL[:-1] + ", no bytecode cache)"
STARTUP_BUDGET = 0.150  # krew-installed `kubectl sidecar --help` over `kubectl --help`, seconds


def help_startup(plane, runs, krew_path):
    # Python caches bytecode unless told not to; some machines' environments do tell it, which
    # would time compiling click rather than starting. That case (also a read-only KREW_ROOT) gets
    # its own row.
    env = {key: value for key, value in plane.env().items() if key != "PYTHONDONTWRITEBYTECODE"}
    kubectl_dir = str(Path(plane.state["kubectl"]).parent)
    krew_env = dict(env, PATH=os.pathsep.join([*krew_path, kubectl_dir, "/usr/bin:/bin"]))
    timings = {}
    for label, argv, run_env in (
        ("kubectl sidecar --help", ["kubectl", "sidecar", "--help"], env),
        # Before the cached row: Python still reads bytecode that an earlier run wrote.
        (
            NO_BYTECODE_LABEL,
            ["kubectl", "sidecar", "--help"],
            dict(krew_env, PYTHONDONTWRITEBYTECODE="1"),
        ),
        (KREW_LABEL, ["kubectl", "sidecar", "--help"], krew_env),
        ("kubectl-sidecar --help", [str(REPO / "bin" / "kubectl-sidecar"), "--help"], env),
        ("kubectl --help", ["kubectl", "--help"], env),
    ):
        run_measured(argv, run_env)  # the first run also writes the plugin's __pycache__
        timings[label] = statistics.median(run_measured(argv, run_env)[0] for _ in range(runs))
    return timings


# --- reporting -----------------------------------------------------------------------------


def _version(argv):
    try:
        return (
            subprocess.run(argv, capture_output=True, text=True, check=True)
            .stdout.strip()
            .splitlines()[0]
        )
    except Exception:  # noqa: BLE001 - a missing version only weakens the report
        return "unknown"


def machine():
    cpu = "unknown"
    try:
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in open("/proc/cpuinfo")
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} CPUs ({cpu}), {memory:.0f} GiB RAM, {platform.system()} {platform.release()}"


FLAT = 0.10  # "flat": peak RSS grows by less than this fraction across the sizes measured


def flatness(results):
    """The flat-memory target, judged from the smallest to the largest size measured."""
    small, large = results[0], results[-1]
    before, after = small["medians"]["plugin-direct"][1], large["medians"]["plugin-direct"][1]
    growth = after / before - 1
    per_pod = (after - before) * 2**20 / max(1, large["pods"] - small["pods"])
    verdict = "met" if growth < FLAT else "NOT met"
    return (
        f"peak RSS flat from {small['pods']:,} to {large['pods']:,} pods (grows less than "
        f"{FLAT:.0%}): {verdict}: {before:.1f} -> {after:.1f} MiB ({growth:+.1%}, "
        f"{per_pod:.0f} bytes per added pod)"
    )


def report(results, startup, seeding, plane):
    kubectl_bin = Path(plane.state["kubectl"])
    lines = [
        "# Benchmarks",
        "",
        "`kubectl sidecar status -A` against `kubectl get pods -A -o json` on the same local API server",
        "(`bench/status_bench.py`, run with `make bench`; numbers below are from its last run).",
        "",
        f"- Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        f"- Machine: {machine()}",
        f"- Python {platform.python_version()}; kube-apiserver and kubectl {build.KUBERNETES_VERSION} "
        f"(built from source), etcd {build.ETCD_VERSION}",
        f"- kubectl: `{_version([str(kubectl_bin), 'version', '--client'])}`",
        f"- Pods: Istio-injected (70% traditional, 30% native), {PODS_PER_REPLICASET} per ReplicaSet, "
        f"over {NAMESPACES} namespaces; seeding took "
        + ", ".join(f"{seconds:.0f}s for {pods}" for pods, seconds in seeding.items()),
        "- Each figure is the median of the runs shown; the commands alternate in one run, output to /dev/null.",
        "",
        "| pods | runs | `kubectl get pods -A -o json` | `kubectl sidecar status -A` | ratio (wall) "
        "| plugin alone | peak RSS kubectl | peak RSS plugin | plugin API requests (budget) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        m = result["medians"]
        lines.append(
            f"| {result['pods']:,} | {result['runs']} | {m['kubectl'][0]:.2f}s | {m['plugin'][0]:.2f}s "
            f"| {m['plugin'][0] / m['kubectl'][0]:.2f} | {m['plugin-direct'][0]:.2f}s "
            f"| {m['kubectl'][1]:.0f} MiB | {m['plugin-direct'][1]:.0f} MiB "
            f"| {result['requests']} ({result['request_budget']}) |"
        )
    lines += [
        "",
        "Against the floor: `bench/floor.py` fetches the same pod pages (page size "
        f"{PAGE_SIZE}, same token, gzip as status asks for it) and parses each with json.loads, "
        "nothing else; it runs in the "
        'same rotation as `bin/kubectl-sidecar status -A` ("plugin alone"). Ratio: the median '
        "of each run's status wall time over the floor's in that run. CPU is user + system.",
        "",
        "| pods | runs | floor | plugin alone | ratio (wall) | floor CPU | plugin CPU "
        "| peak RSS floor |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        m = result["medians"]
        lines.append(
            f"| {result['pods']:,} | {result['runs']} | {m['floor'][0]:.2f}s "
            f"| {m['plugin-direct'][0]:.2f}s | {result['floor_ratio']:.2f} | {m['floor'][2]:.2f}s "
            f"| {m['plugin-direct'][2]:.2f}s | {m['floor'][1]:.0f} MiB |"
        )
    lines += [
        "",
        "`-o json` and `-o yaml` (`bin/kubectl-sidecar status -A -o ...`, median of 2 runs): "
        "written a page of items at a time, summary and warnings after the items.",
        "",
        "| pods | peak RSS table | peak RSS `-o json` | peak RSS `-o yaml` | wall `-o json` "
        "| wall `-o yaml` |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        m = result["medians"]
        docs = m["documents"]
        lines.append(
            f"| {result['pods']:,} | {m['plugin-direct'][1]:.0f} MiB | {docs['json'][1]:.0f} MiB "
            f"| {docs['yaml'][1]:.0f} MiB | {docs['json'][0]:.2f}s | {docs['yaml'][0]:.2f}s |"
        )
    lines += ["", "Start-up (median wall time):", ""]
    lines += [f"- `{label}`: {seconds * 1000:.0f} ms" for label, seconds in startup.items()]
    lines += ["", "Targets:", ""]
    for result in results:
        m = result["medians"]
        checks = [
            ("wall time at most half of kubectl's", m["plugin"][0] <= m["kubectl"][0] / 2),
            ("peak RSS under 100 MB", m["plugin-direct"][1] * 2**20 < 100e6),
            (
                f"at most ceil(N/500)+10 = {result['request_budget']} requests",
                result["requests"] <= result["request_budget"],
            ),
            (f"wall time within {FLOOR_TARGET}x the floor", result["floor_ratio"] <= FLOOR_TARGET),
        ]
        lines.append(
            f"- {result['pods']:,} pods: "
            + "; ".join(f"{what}: {'met' if ok else 'NOT met'}" for what, ok in checks)
        )
    if len(results) > 1:
        lines.append("- " + flatness(results))
    overhead = startup[KREW_LABEL] - startup["kubectl --help"]
    for name in ("json", "yaml"):
        before = results[0]["medians"]["documents"][name][1]
        after = results[-1]["medians"]["documents"][name][1]
        table = results[-1]["medians"]["plugin-direct"][1]
        lines.append(
            f"- `-o {name}` as flat as the table: {before:.0f} -> {after:.0f} MiB from "
            f"{results[0]['pods']:,} to {results[-1]['pods']:,} pods (table {table:.0f} MiB)"
        )
    lines.append(
        f"- krew-installed `kubectl sidecar --help` within {STARTUP_BUDGET * 1000:.0f} ms of "
        f"`kubectl --help`: {'met' if overhead <= STARTUP_BUDGET else 'NOT met'} "
        f"({overhead * 1000:+.0f} ms)"
    )
    lines += [
        "",
        "Notes:",
        "",
        "- `kubectl sidecar status -A` goes through kubectl's plugin lookup and exec, so its peak RSS "
        "is the larger of kubectl's and the plugin's; the plugin's own is measured by running "
        '`bin/kubectl-sidecar` directly ("plugin alone").',
        f"- kubectl made {results[0]['kubectl_requests']} requests for the same listing at "
        f"{results[0]['pods']:,} pods (its default page size is 500 too).",
        "- status prints the table a page at a time, so the peak is one parsed page of 500 pods "
        "(~25 MB) and the next page's undecoded bytes (~5 MB, fetched in a background thread "
        "meanwhile) over the interpreter and its imports. What still grows with the cluster "
        "is an index of one small entry per ReplicaSet and Job, and the set of workloads to restart.",
        "",
    ]
    return "\n".join(lines)


# Marked sections: bench/switch_bench.py's, and this bench's small-cluster one, each rewritten
# only by what measured it.
SECTION = re.compile(r"<!-- ([\w-]+): begin -->.*?<!-- \1: end -->\n?", re.S)


def write_report(path, text=None, sections=None):
    """BENCHMARKS.md: this report (or, without one, the report that is there), then the marked
    sections: those given replace theirs (a new one goes first), the others stay as they were."""
    old = path.read_text() if path.exists() else ""
    kept = {match.group(1): match.group(0) for match in SECTION.finditer(old)}
    if text is None:
        first = SECTION.search(old)
        text = old[: first.start()] if first else old
    fresh = dict(sections or {})
    ordered = {name: fresh.pop(name) for name in list(fresh) if name not in kept}
    ordered.update((name, fresh.get(name, section)) for name, section in kept.items())
    path.write_text(
        text.rstrip("\n") + "\n" + "".join("\n" + section for section in ordered.values())
    )


# --- a fleet -------------------------------------------------------------------------------

# Two contexts naming the one API server: each lists every pod in its own thread, with its own
# connection, as two clusters' would be; the plugin's memory is what is measured, and seeding
# one server is half the time of two.
FLEET_CONTEXTS = ("fleet-a", "fleet-b")
FLEET_SECTION = "status-fleet"


def measure_fleet(plane, pods, runs, baseline=None):
    """Medians of `status -A` over FLEET_CONTEXTS (pods in each): the table and -o json (and
    baseline's -o json), alternating; the -o json document is checked to hold every pod."""
    kubeconfigs = [plane.named_kubeconfig(name) for name in FLEET_CONTEXTS]
    env = dict(plane.env(), KUBECONFIG=os.pathsep.join(map(str, kubeconfigs)))
    status = ["status", "-A", "--context", ",".join(FLEET_CONTEXTS)]
    plugin = str(REPO / "bin" / "kubectl-sidecar")
    commands = {"table": [plugin, *status], "json": [plugin, *status, "-o", "json"]}
    if baseline:
        commands["baseline json"] = [baseline, *status, "-o", "json"]
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        run_measured(commands["json"], env, out.name)  # also warms the caches
        doc = json.load(open(out.name))
    per_context = {name: 0 for name in FLEET_CONTEXTS}
    for item in doc["items"]:
        per_context[item["context"]] += 1
    if per_context != {name: pods for name in FLEET_CONTEXTS} or doc["errors"]:
        raise RuntimeError(f"the fleet's -o json holds {per_context}, errors {doc['errors']}")
    samples = {name: [] for name in commands}
    for _ in range(runs):
        for name, argv in commands.items():
            samples[name].append(run_measured(argv, env))
    medians = {
        name: tuple(statistics.median(sample[i] for sample in values) for i in range(3))
        for name, values in samples.items()
    }
    return {"pods": pods, "runs": runs, "medians": medians}


def fleet_report(results, seeding, baseline_label=None):
    names = ", ".join(FLEET_CONTEXTS)
    lines = [
        f"<!-- {FLEET_SECTION}: begin -->",
        "## `kubectl sidecar status` over a fleet",
        "",
        f'`bench/status_bench.py --fleet` (`make bench BENCH_ARGS="--fleet ..."`): '
        f"`bin/kubectl-sidecar status -A --context {','.join(FLEET_CONTEXTS)}` over "
        f"{len(FLEET_CONTEXTS)} contexts ({names}) naming one local API server, so each reads "
        "every pod, each in its own thread and connection. Pods as above; the table and `-o json` "
        "alternate, output to /dev/null; the `-o json` document was parsed once per size and "
        "held every pod of both contexts.",
        "",
        f"- Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; machine: {machine()}",
        "- Seeding took "
        + ", ".join(f"{seconds:.0f}s for {pods:,}" for pods, seconds in seeding.items()),
        "",
    ]
    headers = ["pods per context", "runs", "peak RSS table", "peak RSS `-o json`"]
    if baseline_label:
        headers.append(f"peak RSS `-o json`, {baseline_label}")
    headers += ["wall table", "wall `-o json`"]
    if baseline_label:
        headers.append(f"wall `-o json`, {baseline_label}")
    lines += ["| " + " | ".join(headers) + " |", "|" + "---:|" * len(headers)]
    for result in results:
        m = result["medians"]
        cells = [f"{result['pods']:,}", str(result["runs"])]
        cells += [f"{m['table'][1]:.0f} MiB", f"{m['json'][1]:.0f} MiB"]
        if baseline_label:
            cells.append(f"{m['baseline json'][1]:.0f} MiB")
        cells += [f"{m['table'][0]:.2f}s", f"{m['json'][0]:.2f}s"]
        if baseline_label:
            cells.append(f"{m['baseline json'][0]:.2f}s")
        lines.append("| " + " | ".join(cells) + " |")
    if len(results) > 1:
        small, large = results[0], results[-1]
        lines.append("")
        for name in ("table", "json") + (("baseline json",) if baseline_label else ()):
            before, after = small["medians"][name][1], large["medians"][name][1]
            verdict = "flat" if after / before - 1 < FLAT else "NOT flat"
            label = f"`-o json`, {baseline_label}" if name == "baseline json" else name
            label = {"json": "`-o json`", "table": "the table"}.get(name, label)
            lines.append(
                f"- {label}: {verdict} from {len(FLEET_CONTEXTS)} x {small['pods']:,} to "
                f"{len(FLEET_CONTEXTS)} x {large['pods']:,} pods: {before:.0f} -> {after:.0f} MiB "
                f"({after / before - 1:+.1%})"
            )
    lines += [
        "- Each context's reader parses a page of its own while the other context's rows are "
        "written, so the fleet's peak is above one context's, and as flat. The table is printed "
        "context by context (the second reads its read ahead, then waits), `-o json` as the pages "
        "come: hence its shorter wall time.",
        f"<!-- {FLEET_SECTION}: end -->",
        "",
    ]
    return "\n".join(lines)


def write_fleet_section(path, text):
    """Replace the fleet's section of BENCHMARKS.md, or put it after the single-context
    report, before the other benches' sections."""
    write_report(path, sections={FLEET_SECTION: text})


def fleet_main(args):
    sizes = sorted(int(size) for size in args.fleet.split(","))
    baseline_label = None
    if args.baseline:
        baseline_label = args.baseline_label or Path(args.baseline).resolve().parents[1].name
    with tempfile.TemporaryDirectory(prefix="sidecar-bench-") as workdir:
        plane = ControlPlane(workdir, controllers=False, kubelet=False, injector=False)
        plane.up()
        try:
            seed.asm_mesh(plane.api(), True)
            results, seeding, have = [], {}, 0
            for size in sizes:
                seeding[size] = seed_pods(plane, size, have)
                have = size
                results.append(measure_fleet(plane, size, args.runs, args.baseline))
                print(json.dumps(results[-1]), file=sys.stderr)
        finally:
            plane.down()
    text = fleet_report(results, seeding, baseline_label)
    write_fleet_section(Path(args.output), text)
    print(text)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes", default="10000", help="comma-separated pod counts (default 10000)"
    )
    parser.add_argument("--runs", type=int, default=5, help="alternating runs per size (default 5)")
    parser.add_argument(
        "--small-only",
        action="store_true",
        help=f"only the small-cluster section ({SMALL_CLUSTER} pods; --runs 15 unless given)",
    )
    parser.add_argument("--output", default=str(REPO / "BENCHMARKS.md"))
    parser.add_argument(
        "--fleet", help="comma-separated pods per context: measure a fleet of two contexts instead"
    )
    parser.add_argument("--baseline", help="with --fleet: another bin/kubectl-sidecar to compare")
    parser.add_argument("--baseline-label", help="what to call it (default: its checkout's name)")
    args = parser.parse_args(argv)
    if args.fleet:
        launcher.start()
        fleet_main(args)
        return
    sizes = sorted(int(size) for size in args.sizes.split(","))
    small_runs = max(args.runs, 15 if args.small_only else 10)
    launcher.start()  # before seeding grows this process: see bench/launcher.py
    with tempfile.TemporaryDirectory(prefix="sidecar-bench-") as workdir:
        # Only the API server: no controllers to fight over the seeded ReplicaSets, no webhook.
        plane = ControlPlane(workdir, controllers=False, kubelet=False, injector=False)
        plane.up()
        try:
            seed.asm_mesh(plane.api(), True)
            krew_path = krew_install(workdir)
            results, seeding, have = [], {}, 0
            seeding[SMALL_CLUSTER] = seed_pods(plane, SMALL_CLUSTER, have)
            have = SMALL_CLUSTER
            small = measure_small(plane, small_runs, krew_path, workdir)
            print(json.dumps(small), file=sys.stderr)
            text = None
            if not args.small_only:
                for size in sizes:
                    seeding[size] = seed_pods(plane, size, have)
                    have = size
                    results.append(measure(plane, size, args.runs))
                    print(json.dumps(results[-1]), file=sys.stderr)
                startup = help_startup(plane, args.runs, krew_path)
                text = report(results, startup, seeding, plane)
        finally:
            plane.down()
    section = small_report(small)
    write_report(Path(args.output), text, {"small-cluster": section})
    print(text or section)


if __name__ == "__main__":
    main()
