"""The reproducible tar.gz: same files and epoch, same bytes; nothing of the build machine in it."""

import gzip
import io
import struct
import tarfile

import pytest

from release import archive

FILES = {
    "top/bin/run": b"#!/bin/sh\n",
    "top/b.txt": b"b",
    "top/a/x.py": b"x = 1\n",
    "top/a-b": b"ab",
}


def _members(data):
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return [
            (
                m.name,
                m.type,
                m.mode,
                m.mtime,
                m.uid,
                m.gid,
                m.uname,
                m.gname,
                tar.extractfile(m).read() if m.isfile() else None,
            )
            for m in tar.getmembers()
        ]


def test_same_files_and_epoch_give_the_same_bytes_whatever_the_input_order():
    one = archive.tar_gz(FILES, 1700000000, executables={"top/bin/run"})
    two = archive.tar_gz(
        dict(reversed(list(FILES.items()))), 1700000000, executables={"top/bin/run"}
    )
    assert one == two
    assert one != archive.tar_gz(FILES, 1700000001, executables={"top/bin/run"})


def test_entries_are_sorted_root_owned_with_fixed_modes_and_one_mtime():
    members = _members(archive.tar_gz(FILES, 1700000000, executables={"top/bin/run"}))
    names = [m[0] for m in members]
    assert names == ["top", "top/a", "top/a-b", "top/a/x.py", "top/b.txt", "top/bin", "top/bin/run"]
    for parent in ("top", "top/a", "top/bin"):  # a directory comes before what it holds
        assert all(
            names.index(parent) < names.index(n) for n in names if n.startswith(parent + "/")
        )
    modes = {m[0]: (m[1], m[2]) for m in members}
    assert modes["top/bin/run"] == (tarfile.REGTYPE, 0o755)
    assert modes["top/b.txt"] == (tarfile.REGTYPE, 0o644)
    assert modes["top/a"] == (tarfile.DIRTYPE, 0o755)
    assert {m[3:8] for m in members} == {(1700000000, 0, 0, "", "")}
    assert {m[0]: m[8] for m in members if m[8] is not None} == FILES


def test_gzip_header_has_no_file_name_and_no_time():
    data = archive.tar_gz(FILES, 1700000000)
    magic, method, flags, mtime = struct.unpack("<HBBI", data[:8])
    assert (magic, method) == (0x8B1F, 8)
    assert flags == 0 and mtime == 0  # FNAME unset, MTIME zero
    assert gzip.decompress(data)


@pytest.mark.parametrize("path", ["/abs/file", "top/../escape", "top\\win"])
def test_refuses_paths_that_are_not_clean_and_relative(path):
    with pytest.raises(ValueError, match="not a clean relative path"):
        archive.tar_gz({path: b""}, 0)
