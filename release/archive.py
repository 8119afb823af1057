"""A byte-for-byte reproducible .tar.gz: sorted entries, one mtime, root-owned, fixed modes and a
gzip header without a file name or time. The same files and epoch give the same bytes."""

import gzip
import io
import tarfile


def _info(name, epoch, mode, size=0, kind=tarfile.REGTYPE):
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.size, info.mtime = kind, mode, size, epoch
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def directories(paths):
    """Every parent directory of the given file paths."""
    found = set()
    for path in paths:
        parts = path.split("/")[:-1]
        for end in range(1, len(parts) + 1):
            found.add("/".join(parts[:end]))
    return found


def tar_gz(files, epoch, executables=()):
    """Bytes of a .tar.gz holding {path: bytes}; paths in `executables` get mode 0755, the other
    files 0644, every directory 0755 and its own entry (listed before what it holds)."""
    for path in files:
        if path.startswith("/") or ".." in path.split("/") or "\\" in path:
            raise ValueError(f"not a clean relative path: {path!r}")
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        dirs = directories(files)
        # Sorting the joined path puts every directory before its contents (a prefix sorts first).
        for name in sorted(dirs | set(files)):
            if name in dirs:
                tar.addfile(_info(name, epoch, 0o755, kind=tarfile.DIRTYPE))
            else:
                data = files[name]
                mode = 0o755 if name in executables else 0o644
                tar.addfile(_info(name, epoch, mode, len(data)), io.BytesIO(data))
    out = io.BytesIO()
    # filename="" and mtime=0 leave the name and time out of the gzip header.
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, compresslevel=9, mtime=0) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()
