"""vendor.lock: parsed strictly, and the committed one vendors what the archive promises."""

import pytest

from release import lockfile, vendor
from release.dist import REPO

URL = "https://files.pythonhosted.org/packages/aa/bb/"
HASH = "0123456789abcdef" * 4


def test_parses_pip_syntax_with_continuation_lines_and_comments():
    text = (
        f"# header\n\nclick @ {URL}click-8.5.1-py3-none-any.whl \\\n    --hash=sha256:{HASH}\n"
        f"PyYAML @ {URL}pyyaml-6.0.4.tar.gz --hash=sha256:{HASH}\n"
    )
    click, pyyaml = lockfile.parse(text)
    assert (click.name, click.version, click.is_wheel, click.filename) == (
        "click",
        "8.5.1",
        True,
        "click-8.5.1-py3-none-any.whl",
    )
    assert (pyyaml.name, pyyaml.version, pyyaml.is_wheel) == ("pyyaml", "6.0.4", False)


@pytest.mark.parametrize(
    "line, complaint",
    [
        (f"click @ {URL}click-8.5.1-py3-none-any.whl", "is not 'name @ https://"),
        (
            f"click @ {URL}click-8.5.1-py3-none-any.whl --hash=sha256:{HASH.upper()}",
            "is not 'name @",
        ),
        (
            f"click @ http://example/click-8.5.1-py3-none-any.whl --hash=sha256:{HASH}",
            "is not 'name @",
        ),
        (f"click @ {URL}click-8.5.1.zip --hash=sha256:{HASH}", "neither a wheel nor"),
        (f"click @ {URL}six-1.17.0-py3-none-any.whl --hash=sha256:{HASH}", "another project's"),
        (
            f"click @ {URL}click-8.5.1-py3-none-any.whl --hash=sha256:{HASH}\n"
            f"Click @ {URL}click-8.5.0-py3-none-any.whl --hash=sha256:{HASH}",
            "locked twice",
        ),
    ],
)
def test_refuses_what_it_cannot_pin_with_a_reason(line, complaint):
    with pytest.raises(lockfile.LockError, match=complaint):
        lockfile.parse(line + "\n")


def test_render_round_trips():
    entries = lockfile.parse(
        f"six @ {URL}six-1.17.0-py2.py3-none-any.whl --hash=sha256:{HASH}\n"
        f"click @ {URL}click-8.5.1-py3-none-any.whl --hash=sha256:{HASH}\n"
    )
    text = lockfile.render(entries, "made by a test")
    assert text.startswith("# made by a test\nclick @ ")
    assert lockfile.parse(text) == sorted(entries, key=lambda e: e.name)


def test_committed_lock_is_pure_python_and_pins_the_kubernetes_client_to_35():
    entries = {e.name: e for e in lockfile.parse((REPO / "vendor.lock").read_text())}
    assert {"click", "kubernetes", "pyyaml", "urllib3", "certifi", "requests"} <= set(entries)
    assert entries["kubernetes"].version.startswith("35.")
    for entry in entries.values():
        assert entry.url.startswith("https://files.pythonhosted.org/")
        if entry.is_wheel:
            assert entry.filename.endswith("-none-any.whl"), entry.filename
        else:
            assert entry.name in vendor.PURE_SDIST_TREES, entry.filename
