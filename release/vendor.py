"""The vendored dependency tree: each locked file unpacked to the paths it would have in
site-packages, as {relative path: bytes}. Pure: it is given the files' bytes."""

import io
import tarfile
import zipfile

# Projects whose PyPI wheels are all compiled, vendored from their sdist's pure-Python tree
# instead: PyYAML falls back to its pure loader and dumper when its C extension is absent.
PURE_SDIST_TREES = {"pyyaml": ("lib/yaml", "yaml")}


class VendorError(ValueError):
    """A locked file can't be vendored into an archive that runs on every platform."""


def unpack(entry, data):
    """{path: bytes} for one locked file."""
    if entry.is_wheel:
        return _wheel(entry, data)
    return _sdist(entry, data)


def _wheel(entry, data):
    tags = entry.filename[: -len(".whl")].split("-")[-3:]
    if tags[1:] != ["none", "any"]:
        raise VendorError(
            f"{entry.filename} is built for one platform or Python "
            f"({'-'.join(tags)}): lock a py3-none-any wheel or a pure sdist"
        )
    files = {}
    with zipfile.ZipFile(io.BytesIO(data)) as wheel:
        for name in wheel.namelist():
            if name.endswith("/") or name.endswith(".pyc"):
                continue
            top = name.split("/", 1)[0]
            if top.endswith(".data"):
                if name.split("/")[1] == "scripts":
                    continue  # console scripts: the plugin imports the package, runs none of them
                raise VendorError(f"{entry.filename} installs {name} outside site-packages")
            files[name] = wheel.read(name)
    return files


def _sdist(entry, data):
    if entry.name not in PURE_SDIST_TREES:
        raise VendorError(
            f"{entry.filename}: only {', '.join(PURE_SDIST_TREES)} may be vendored "
            "from an sdist (their pure-Python tree is known)"
        )
    source, target = PURE_SDIST_TREES[entry.name]
    files = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as sdist:
        members = [m for m in sdist.getmembers() if m.isfile()]
        top = members[0].name.split("/", 1)[0]
        prefix = f"{top}/{source}/"
        for member in members:
            if member.name.startswith(prefix) and member.name.endswith(".py"):
                files[f"{target}/{member.name[len(prefix) :]}"] = sdist.extractfile(member).read()
        # A dist-info, so importlib.metadata finds its version, and its licence travels with it.
        info = f"{top}.dist-info"
        by_name = {m.name: m for m in members}
        files[f"{info}/METADATA"] = sdist.extractfile(by_name[f"{top}/PKG-INFO"]).read()
        if f"{top}/LICENSE" in by_name:
            files[f"{info}/LICENSE"] = sdist.extractfile(by_name[f"{top}/LICENSE"]).read()
    if not any(path.startswith(f"{target}/") for path in files):
        raise VendorError(f"{entry.filename} has no {source}/ tree")
    return files


def tree(entries, fetch):
    """{path: bytes} of every locked file; two projects writing one path is an error."""
    files, owner = {}, {}
    for entry in entries:
        for path, data in unpack(entry, fetch(entry)).items():
            if path in owner:
                raise VendorError(f"{entry.name} and {owner[path]} both ship {path}")
            owner[path] = entry.name
            files[path] = data
    return files
