"""`make manifest` edits only version, uri and sha256 in krew-manifest.yaml."""

import pytest
import yaml

from release import manifest

DIGEST = "ab" * 32


def test_update_sets_version_uri_and_sha256_on_every_platform_and_keeps_the_rest():
    before = manifest.MANIFEST.read_text()
    after = manifest.update(before, "1.2.3", DIGEST)
    spec, old = yaml.safe_load(after)["spec"], yaml.safe_load(before)["spec"]
    assert spec["version"] == "v1.2.3"
    for entry, was in zip(spec["platforms"], old["platforms"], strict=True):
        assert entry["sha256"] == DIGEST
        assert entry["uri"] == (
            "https://github.com/kubectl-sidecar/kubectl-sidecar/releases/download/"
            "v1.2.3/kubectl-sidecar-v1.2.3-krew.tar.gz"
        )
        assert (entry["selector"], entry["files"], entry["bin"]) == (
            was["selector"],
            was["files"],
            was["bin"],
        )
    assert [line for line in after.splitlines() if line.lstrip().startswith("#")] == [
        line for line in before.splitlines() if line.lstrip().startswith("#")
    ]
    assert manifest.update(after, "1.2.3", DIGEST) == after


def test_update_refuses_a_digest_krew_would_refuse():
    with pytest.raises(ValueError, match="not a lowercase sha256"):
        manifest.update(manifest.MANIFEST.read_text(), "1.2.3", DIGEST.upper())


def test_update_refuses_a_manifest_it_cannot_fully_update():
    text = manifest.MANIFEST.read_text().replace("    uri:", "    url:", 1)
    with pytest.raises(ValueError, match="a uri and sha256 per platform"):
        manifest.update(text, "1.2.3", DIGEST)
