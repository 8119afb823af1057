"""The part of the Sail operator the owner tests need (issue 19): istiod rendered from the
Istio CR that owns its IstioRevision, spec.values.pilot.env into istiod's env, and put back
whenever istiod says otherwise, as the operator does with everything it renders unless marked
`sailoperator.io/ignore` (its docs: resources are "continually overwritten").

It runs in a thread beside the test, through the same API as everything else; the CRDs and
objects are the test's (tests/e2e/test_owners.py)."""

import threading

from tests.harness.api import ApiFailure, resource_path

ISTIOS = resource_path("sailoperator.io/v1", "istios")
REVISIONS = resource_path("sailoperator.io/v1", "istiorevisions")
IGNORE = "sailoperator.io/ignore"


def _owned_by(obj, owner):
    return any(
        reference.get("uid") == owner["metadata"]["uid"]
        for reference in obj["metadata"].get("ownerReferences") or ()
    )


def render(admin):
    """One pass: every istiod owned (through its IstioRevision) by an Istio CR gets that CR's
    pilot.env; the names of the Deployments changed."""
    changed = []
    revisions = admin.items(REVISIONS)
    istiods = admin.items(
        resource_path("apps/v1", "deployments"), params={"labelSelector": "app=istiod"}
    )
    for istio in admin.items(ISTIOS):
        env = ((istio.get("spec") or {}).get("values") or {}).get("pilot", {}).get("env") or {}
        for revision in (r for r in revisions if _owned_by(r, istio)):
            for istiod in (d for d in istiods if _owned_by(d, revision)):
                if (istiod["metadata"].get("annotations") or {}).get(IGNORE) == "true":
                    continue
                container = istiod["spec"]["template"]["spec"]["containers"][0]
                current = {e["name"]: e.get("value") for e in container.get("env") or ()}
                wanted = {name: str(value) for name, value in env.items()}
                if all(current.get(name) == value for name, value in wanted.items()):
                    continue
                admin.patch(
                    resource_path(
                        "apps/v1",
                        "deployments",
                        istiod["metadata"]["namespace"],
                        istiod["metadata"]["name"],
                    ),
                    {
                        "spec": {
                            "template": {
                                "spec": {
                                    "containers": [
                                        {
                                            "name": container["name"],
                                            "env": [
                                                {"name": name, "value": value}
                                                for name, value in sorted(wanted.items())
                                            ],
                                        }
                                    ]
                                }
                            }
                        }
                    },
                    kind="strategic",
                )
                changed.append(istiod["metadata"]["name"])
    return changed


class Reconciler:
    """render() again and again until stopped: a context manager."""

    def __init__(self, admin, interval=0.2):
        self.admin = admin
        self.interval = interval
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sail-reconciler", daemon=True)

    def _run(self):
        while not self._stopped.is_set():
            try:
                render(self.admin)
            except ApiFailure:
                pass  # a conflict or an object mid-deletion: the next pass sees it anew
            self._stopped.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stopped.set()
        self._thread.join(timeout=60)
