"""Unpacking locked files into the vendor tree: pure wheels whole, PyYAML from its sdist."""

import io
import tarfile
import zipfile

import pytest

from release import vendor
from release.lockfile import Locked


def _locked(name, filename):
    return Locked(
        name, filename.split("-")[1].removesuffix(".tar.gz"), f"https://x/{filename}", "0" * 64
    )


def _wheel(files):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as wheel:
        for name, data in files.items():
            wheel.writestr(name, data)
    return out.getvalue()


def _sdist(top, files):
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as sdist:
        for name, data in files.items():
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size = len(data)
            sdist.addfile(info, io.BytesIO(data))
    return out.getvalue()


def test_a_universal_wheel_is_unpacked_whole_without_scripts_or_bytecode():
    files = vendor.unpack(
        _locked("six", "six-1.17.0-py2.py3-none-any.whl"),
        _wheel(
            {
                "six.py": b"# six",
                "six-1.17.0.dist-info/METADATA": b"Name: six",
                "six-1.17.0.data/scripts/tool": b"#!python",
                "__pycache__/six.cpython-311.pyc": b"\0",
            }
        ),
    )
    assert files == {"six.py": b"# six", "six-1.17.0.dist-info/METADATA": b"Name: six"}


def test_a_platform_wheel_is_refused():
    entry = _locked("pyyaml", "pyyaml-6.0.4-cp311-cp311-manylinux_2_17_x86_64.whl")
    with pytest.raises(vendor.VendorError, match="built for one platform or Python"):
        vendor.unpack(entry, _wheel({"yaml/__init__.py": b""}))


def test_pyyaml_comes_from_its_sdist_pure_tree_with_metadata_and_licence():
    data = _sdist(
        "pyyaml-6.0.4",
        {
            "lib/yaml/__init__.py": b"# yaml",
            "lib/yaml/cyaml.py": b"# c",
            "lib/_yaml/__init__.py": b"# shim",
            "yaml/_yaml.pyx": b"# cython",
            "PKG-INFO": b"Name: PyYAML\nVersion: 6.0.4\n",
            "LICENSE": b"MIT",
        },
    )
    files = vendor.unpack(_locked("pyyaml", "pyyaml-6.0.4.tar.gz"), data)
    assert files == {
        "yaml/__init__.py": b"# yaml",
        "yaml/cyaml.py": b"# c",
        "pyyaml-6.0.4.dist-info/METADATA": b"Name: PyYAML\nVersion: 6.0.4\n",
        "pyyaml-6.0.4.dist-info/LICENSE": b"MIT",
    }


def test_other_sdists_are_refused():
    with pytest.raises(vendor.VendorError, match="only pyyaml may be vendored from an sdist"):
        vendor.unpack(_locked("six", "six-1.17.0.tar.gz"), _sdist("six-1.17.0", {"six.py": b""}))


def test_two_projects_shipping_one_path_is_an_error():
    one, two = (
        _locked("aaa", "aaa-1.0-py3-none-any.whl"),
        _locked("bbb", "bbb-1.0-py3-none-any.whl"),
    )
    wheels = {one: _wheel({"shared.py": b"1"}), two: _wheel({"shared.py": b"2"})}
    with pytest.raises(vendor.VendorError, match="bbb and aaa both ship shared.py"):
        vendor.tree([one, two], wheels.__getitem__)
