"""The launcher and the krew manifest: what a user without pip install relies on."""

import os
import re
import subprocess
import sys

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_launcher_runs_from_a_checkout_without_installing():
    result = subprocess.run(
        [sys.executable, os.path.join(REPO, "bin", "kubectl-sidecar"), "--help"],
        capture_output=True,
        text=True,
        cwd="/",
        env=dict(os.environ, PYTHONPATH=""),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Usage: kubectl sidecar")


def test_krew_manifest_is_well_formed_and_lays_out_the_archive_as_the_launcher_expects():
    with open(os.path.join(REPO, "krew-manifest.yaml")) as handle:
        manifest = yaml.safe_load(handle)
    assert manifest["apiVersion"] == "krew.googlecontainertools.github.com/v1alpha2"
    assert manifest["kind"] == "Plugin" and manifest["metadata"]["name"] == "sidecar"
    spec = manifest["spec"]
    assert re.fullmatch(r"v\d+\.\d+\.\d+", spec["version"])
    from kubectl_sidecar import __version__

    assert spec["version"] == f"v{__version__}"
    for key in ("homepage", "shortDescription", "description", "caveats"):
        assert spec[key]
    assert "3.10" in spec["caveats"] and "pip" not in spec["caveats"]
    from release import dist

    for platform in spec["platforms"]:
        assert re.fullmatch(r"[0-9a-f]{64}", platform["sha256"]) and set(platform["sha256"]) != {
            "0"
        }
        assert platform["uri"].endswith(f"/{spec['version']}/{dist.archive_name(__version__)}")
        # krew moves everything under the archive's top directory into the plugin's directory,
        # so bin/, kubectl_sidecar/ and vendor/ keep the layout bin/kubectl-sidecar looks for.
        assert platform["files"] == [{"from": f"{dist.TOP}/*", "to": "."}]
        assert platform["bin"] == "bin/kubectl-sidecar"


def test_completion_helper_runs_from_a_checkout_and_is_installed_by_pip():
    helper = os.path.join(REPO, "bin", "kubectl_complete-sidecar")
    assert os.access(helper, os.X_OK)
    result = subprocess.run(
        [sys.executable, helper, "st"],
        capture_output=True,
        text=True,
        cwd="/",
        env=dict(os.environ, PYTHONPATH=""),
    )
    assert result.returncode == 0 and result.stderr == ""
    assert result.stdout.splitlines()[-1] == ":4" and result.stdout.startswith("status\t")
    import configparser

    setup = configparser.ConfigParser()
    setup.read(os.path.join(REPO, "setup.cfg"))
    scripts = setup["options.entry_points"]["console_scripts"]
    assert "kubectl_complete-sidecar = kubectl_sidecar.completion:main" in scripts
