"""Release tooling: the krew archive with every runtime dependency vendored, the wheel and sdist,
and the krew manifest that names the archive's sha256. Not part of the installed package.

    python -m release.dist        # make dist
    python -m release.manifest    # make manifest
    python -m release.lock        # make lock
"""
