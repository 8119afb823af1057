"""`make demo`: a small mesh on the local control plane, shown through `kubectl sidecar status -A`.

python -m tests.harness.demo up     # build (first time), start, seed, show
python -m tests.harness.demo down   # stop it
"""

import subprocess
import sys
from pathlib import Path

from tests.harness import build, seed
from tests.harness.controlplane import REPO, ControlPlane, default_workdir


def seed_demo(admin):
    """ASM first injected traditional sidecars, then was switched to native: drift to see."""
    seed.asm_mesh(admin, False)
    seed.namespace(admin, "shop")
    seed.deployment(admin, "shop", "cart")
    seed.deployment(admin, "shop", "checkout", replicas=1)
    seed.namespace(admin, "batch")
    seed.job(admin, "batch", "nightly-export")
    seed.cronjob(admin, "batch", "report")
    seed.namespace(admin, "legacy")
    seed.statefulset(admin, "legacy", "ledger")
    seed.bare_pod(admin, "legacy", "debug-shell")
    for ns, count in (("shop", 3), ("batch", 2), ("legacy", 3)):
        seed.wait_for_pods(admin, ns, count)
    seed.asm_mesh(admin, True)
    seed.deployment(admin, "shop", "frontend", replicas=1)
    seed.namespace(admin, "istio-ingress", injection=False)
    seed.gateway(admin, "istio-ingress")
    seed.wait_for_pods(admin, "shop", 4)
    seed.wait_for_pods(admin, "istio-ingress", 1)


def up():
    plane = ControlPlane(default_workdir())
    plane.up()
    seed_demo(plane.api())
    print("$ kubectl sidecar status -A\n", flush=True)
    subprocess.run(["kubectl", "sidecar", "status", "-A"], env=plane.env(), check=False)
    kubectl_dir = Path(plane.state["kubectl"]).parent
    print(f"""
The demo control plane is running. To try it from your shell:

    export KUBECONFIG={plane.kubeconfig}
    export PATH={kubectl_dir}:{REPO / "bin"}:{Path(sys.executable).parent}:$PATH NO_PROXY=127.0.0.1,localhost
    kubectl sidecar status -A --summary
    kubectl sidecar switch --native --dry-run     # finish the switch ASM was given
    kubectl sidecar switch --native
    kubectl sidecar switch --traditional          # and back

A read-only user is there too: add --context viewer to see a refused switch.
Stop it with: make demo-down""")


def down():
    ControlPlane(default_workdir()).down()
    print("demo control plane stopped")


if __name__ == "__main__":
    try:
        {"up": up, "down": down}[sys.argv[1] if len(sys.argv) > 1 else "up"]()
    except build.GoMissing as error:
        sys.exit(f"error: {error}")
