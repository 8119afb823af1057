"""`hack/control-plane`: build, start and stop the local control plane by hand.

hack/control-plane build
hack/control-plane up [--workdir DIR] [--istio-injector istio]     # prints export lines
hack/control-plane down [--workdir DIR]
hack/control-plane env [--workdir DIR]
"""

import argparse
import sys
from pathlib import Path

from tests.harness import build
from tests.harness.controlplane import ISTIO_INJECTORS, REPO, ControlPlane, default_workdir


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="hack/control-plane", description="Build, start and stop the local control plane."
    )
    parser.add_argument("command", choices=["build", "up", "down", "env"])
    parser.add_argument("--workdir", default=None, help=f"default {default_workdir()}")
    parser.add_argument(
        "--istio-injector",
        choices=ISTIO_INJECTORS,
        default=None,
        help="who injects for Istio/ASM: Istio's own webhook code (default) or the harness's model",
    )
    args = parser.parse_args(argv)
    plane = ControlPlane(args.workdir, istio_injector=args.istio_injector)
    if args.command == "build":
        build.build()
        if plane.istio_injector == "istio":
            build.build_istio_injector()
    elif args.command == "up":
        plane.up()
        print(f"export KUBECONFIG={plane.kubeconfig}")
        print(
            f"export PATH={Path(plane.state['kubectl']).parent}:{REPO / 'bin'}:{Path(sys.executable).parent}:$PATH"
        )
    elif args.command == "down":
        plane.down()
    else:
        print(f"export KUBECONFIG={plane.kubeconfig}")


if __name__ == "__main__":
    main()
