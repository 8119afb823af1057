"""Files from PyPI, fetched by the sha256 vendor.lock names and cached, so reruns are offline."""

import hashlib
import os
import urllib.request
from pathlib import Path


class FetchError(RuntimeError):
    """A locked file could not be fetched, or it is not the file the lock names."""


def cache_dir():
    # The same cache the test harness keeps its control-plane binaries in.
    configured = os.environ.get("KUBECTL_SIDECAR_CACHE")
    root = (
        Path(configured)
        if configured
        else Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "kubectl-sidecar"
    )
    return root / "pypi"


def fetch(entry, cache=None, log=lambda line: None):
    """The bytes of one locked file: from the cache when present, else downloaded and checked."""
    path = (cache or cache_dir()) / entry.sha256 / entry.filename
    if path.exists():
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() == entry.sha256:
            return data
    log(f"downloading {entry.url}")
    try:
        with urllib.request.urlopen(entry.url, timeout=60) as response:
            data = response.read()
    except OSError as error:
        raise FetchError(f"could not download {entry.filename} for {entry.name}: {error}") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != entry.sha256:
        raise FetchError(f"{entry.url} has sha256 {digest}, vendor.lock says {entry.sha256}")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(data)
    partial.replace(path)
    return data
