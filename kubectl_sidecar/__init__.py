"""kubectl-sidecar: native vs traditional mesh sidecars, at a glance and switched safely."""

__version__ = "0.1.0"


def missing_package_message(name, python):
    """What to say when `python` (a bare python3 running bin/kubectl-sidecar) lacks a dependency."""
    return (
        f"error: the Python package {name!r} is missing for {python}: "
        "pip install click kubernetes PyYAML (or pip install kubectl-sidecar)"
    )
