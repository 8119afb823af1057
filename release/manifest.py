"""`make manifest`: build the krew archive and write its version, uri and sha256 into the committed
krew-manifest.yaml, editing only those values so comments and layout stay as they are.

Run it after any change to the archive's inputs (see release/source.py) is committed, and commit
the manifest on its own: that commit touches no input, so the archive and its sha256 stay the same.
"""

import re
import sys

from release import dist

MANIFEST = dist.REPO / "krew-manifest.yaml"


def update(text, version, sha256):
    """The manifest text with spec.version, every platform's sha256 and the version in every uri
    set; ValueError when the manifest lacks one of them."""
    if not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise ValueError(f"not a lowercase sha256: {sha256!r}")
    tag = f"v{version}"
    text, versions = re.subn(r"(?m)^(  version: )\S+$", rf"\g<1>{tag}", text)
    text, digests = re.subn(r'(?m)^(\s+sha256: )"?[0-9A-Fa-f]*"?\s*$', rf'\g<1>"{sha256}"', text)
    text, uris = re.subn(
        r"(?m)^(\s+uri: \S+/download/)[^/\s]+/[^/\s]+$",
        rf"\g<1>{tag}/{dist.archive_name(version)}",
        text,
    )
    if versions != 1 or not digests or uris != digests:
        raise ValueError(
            f"expected spec.version once and a uri and sha256 per platform; found "
            f"{versions} version, {uris} uri and {digests} sha256 lines"
        )
    return text


def main():
    try:
        path, digest = dist.build_archive(dist.REPO / "dist")
        before = MANIFEST.read_text()
        after = update(before, dist.version(), digest)
    except (*dist.ERRORS, ValueError) as error:
        sys.exit(f"error: {error}")
    if after == before:
        print(f"{MANIFEST.name} already names {path.name} with sha256 {digest}")
        return
    MANIFEST.write_text(after)
    print(
        f"{MANIFEST.name} now names {path.name} with sha256 {digest}: commit it on its own "
        f"(git commit -m 'krew-manifest: sha256 of {path.name}' {MANIFEST.name})"
    )


if __name__ == "__main__":
    main()
