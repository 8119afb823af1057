"""`hack/control-plane`: build, start and stop the local control plane by hand.

hack/control-plane build
hack/control-plane up [--workdir DIR]     # prints export lines
hack/control-plane down [--workdir DIR]
hack/control-plane env [--workdir DIR]
"""

import argparse
import sys
from pathlib import Path

from tests.harness import build
from tests.harness.controlplane import REPO, ControlPlane, default_workdir


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="hack/control-plane", description="Build, start and stop the local control plane."
    )
    parser.add_argument("command", choices=["build", "up", "down", "env"])
    parser.add_argument("--workdir", default=None, help=f"default {default_workdir()}")
    args = parser.parse_args(argv)
    plane = ControlPlane(args.workdir)
    if args.command == "build":
        build.build()
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
