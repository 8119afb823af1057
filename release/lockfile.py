"""vendor.lock: the exact files the release archive vendors, one per package, each by sha256.

It is a pip requirements file (`name @ url --hash=sha256:...`), so `pip install --require-hashes
-r vendor.lock` installs the same set; the release build reads it with `parse` and nothing else.
"""

import re
from dataclasses import dataclass

_LINE = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*@\s*(?P<url>https://\S+)\s+"
    r"--hash=sha256:(?P<sha256>[0-9a-f]{64})$"
)
_WHEEL = re.compile(r"^(?P<name>[^-]+)-(?P<version>[^-]+)-.+\.whl$")
_SDIST = re.compile(r"^(?P<name>.+)-(?P<version>[^-]+)\.tar\.gz$")


class LockError(ValueError):
    """vendor.lock is malformed."""


@dataclass(frozen=True)
class Locked:
    name: str  # normalised project name (PEP 503): lowercase, runs of -_. as one -
    version: str
    url: str
    sha256: str

    @property
    def filename(self):
        return self.url.rsplit("/", 1)[1]

    @property
    def is_wheel(self):
        return self.filename.endswith(".whl")


def normalise(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def parse(text):
    """The locked files, in file order; LockError names the line that is wrong."""
    entries, seen = [], set()
    # pip's syntax: a trailing backslash continues the line; `#` starts a comment.
    logical = re.sub(r"\\\n", " ", text)
    for number, line in enumerate(logical.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(re.sub(r"\s+", " ", line))
        if not match:
            raise LockError(
                f"vendor.lock: entry {number} is not 'name @ https://... "
                f"--hash=sha256:<64 hex>': {line[:80]!r}"
            )
        name, url = normalise(match["name"]), match["url"]
        filename = url.rsplit("/", 1)[1]
        found = _WHEEL.match(filename) or _SDIST.match(filename)
        if not found:
            raise LockError(
                f"vendor.lock: {name}: {filename} is neither a wheel nor a .tar.gz sdist"
            )
        if normalise(found["name"]) != name:
            raise LockError(f"vendor.lock: {name}: the file {filename} is another project's")
        if name in seen:
            raise LockError(f"vendor.lock: {name} is locked twice")
        seen.add(name)
        entries.append(Locked(name, found["version"], url, match["sha256"]))
    return entries


def render(entries, header):
    lines = [f"# {line}".rstrip() for line in header.splitlines()]
    for entry in sorted(entries, key=lambda e: e.name):
        lines.append(f"{entry.name} @ {entry.url} \\\n    --hash=sha256:{entry.sha256}")
    return "\n".join(lines) + "\n"
