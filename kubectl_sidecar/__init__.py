"""kubectl-sidecar: native vs traditional mesh sidecars, at a glance and switched safely."""

__version__ = "0.1.0"
