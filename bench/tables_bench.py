"""Our kubectl-style columns() against tabulate for the tables that are built whole and small
(--summary, the switch plan). Prints import cost and per-table time; see the README's choice.

    .venv/bin/python bench/tables_bench.py
"""

import subprocess
import sys
import time


def import_ms(module, runs=15):
    """Median time to import `module` in a fresh interpreter (what a command pays once)."""
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    times = sorted(
        float(subprocess.check_output([sys.executable, "-c", code])) for _ in range(runs)
    )
    return times[len(times) // 2] * 1000


def per_call_ms(function, repeat=500):
    start = time.perf_counter()
    for _ in range(repeat):
        function()
    return (time.perf_counter() - start) / repeat * 1000


def main():
    try:
        import tabulate as tabulate_module
    except ModuleNotFoundError:
        sys.exit("tabulate is missing: pip install . (it is a dependency)")
    from tabulate import simple_separated_format, tabulate

    from kubectl_sidecar.render import columns

    # kubectl's look: three spaces between columns, no padding beyond the widest cell.
    kubectl_style = simple_separated_format("   ")
    tabulate_module.MIN_PADDING = 0

    def with_tabulate(headers, rows):
        text = tabulate(
            rows,
            headers,
            tablefmt=kubectl_style,
            stralign="left",
            numalign="left",
            disable_numparse=True,
        )
        return "\n".join(line.rstrip() for line in text.splitlines()) + "\n"

    tables = {
        "summary, 40 namespaces": (
            ["NAMESPACE", "NATIVE", "TRADITIONAL", "INVALID", "GATEWAY", "NONE", "NEEDS-ACTION"],
            [[f"team-{i:02d}", str(i), str(40 - i), "0", "0", "1", str(i % 3)] for i in range(40)],
        ),
        "plan, 300 workloads": (
            ["NAMESPACE", "WORKLOAD", "PODS-TO-SWITCH"],
            [
                [f"team-{i % 40:02d}", f"Deployment/service-{i:03d}", str(1 + i % 5)]
                for i in range(300)
            ],
        ),
    }
    print(
        f"import: tabulate {import_ms('tabulate'):.1f} ms "
        f"(kubectl_sidecar.render {import_ms('kubectl_sidecar.render'):.1f} ms, already paid)"
    )
    for name, (headers, rows) in tables.items():
        same = columns(headers, rows) == with_tabulate(headers, rows)
        ours = per_call_ms(lambda h=headers, r=rows: columns(h, r))
        theirs = per_call_ms(lambda h=headers, r=rows: with_tabulate(h, r))
        print(
            f"{name}: columns {ours:.3f} ms, tabulate {theirs:.3f} ms "
            f"({theirs / ours:.0f}x), identical text: {same}"
        )


if __name__ == "__main__":
    main()
