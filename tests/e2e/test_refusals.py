"""A restart refused by an admission policy, not by RBAC: the report says so, and says once
what to do next."""

import pytest

from tests.harness import seed
from tests.harness.api import ApiFailure, resource_path

POLICIES = resource_path("admissionregistration.k8s.io/v1", "validatingadmissionpolicies")
BINDINGS = resource_path("admissionregistration.k8s.io/v1", "validatingadmissionpolicybindings")


@pytest.fixture
def frozen_policy(admin):
    """A ValidatingAdmissionPolicy refusing any change to the pod template of a Deployment
    labelled frozen=true: a change freeze, as policy engines enforce one."""
    admin.apply(
        POLICIES,
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": "frozen-deployments"},
            "spec": {
                "failurePolicy": "Fail",
                "matchConstraints": {
                    "resourceRules": [
                        {
                            "apiGroups": ["apps"],
                            "apiVersions": ["v1"],
                            "operations": ["UPDATE"],
                            "resources": ["deployments"],
                        }
                    ]
                },
                "validations": [
                    {
                        "expression": "oldObject.spec.template == object.spec.template",
                        "message": "this Deployment is frozen",
                    }
                ],
            },
        },
    )
    admin.apply(
        BINDINGS,
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": {"name": "frozen-deployments"},
            "spec": {
                "policyName": "frozen-deployments",
                "validationActions": ["Deny"],
                "matchResources": {"objectSelector": {"matchLabels": {"frozen": "true"}}},
            },
        },
    )
    yield
    admin.delete(f"{BINDINGS}/frozen-deployments")
    admin.delete(f"{POLICIES}/frozen-deployments")


def test_a_restart_refused_by_a_policy_is_reported_as_the_policys(
    kubectl, admin, asm_mesh, fresh_namespace, frozen_policy
):
    ns = fresh_namespace
    seed.asm_mesh(admin, False)
    for name in ("aaa", "bbb"):
        seed.deployment(admin, ns, name, replicas=1)
    seed.wait_for_pods(admin, ns, 2)
    frozen = resource_path("apps/v1", "deployments", ns, "aaa")
    admin.patch(frozen, {"metadata": {"labels": {"frozen": "true"}}})

    def policy_in_force():
        # The API server compiles a new policy in the background: until then it allows.
        try:
            admin.request(
                "PATCH",
                frozen,
                {"spec": {"template": {"metadata": {"annotations": {"probe": "1"}}}}},
                params={"dryRun": "All"},
                content_type="application/merge-patch+json",
            )
        except ApiFailure as failure:
            return failure.status in (400, 403, 422)
        return False

    admin.wait_for("the policy to be in force", policy_in_force, timeout=120)
    done = kubectl.sidecar("switch", "--native", "-n", ns, "--yes", "--concurrency", "1")
    assert done.returncode == 1, done.stdout + done.stderr
    out = done.stdout
    assert "refused: Deployment/aaa" in out and "this Deployment is frozen" in out
    assert "not started: Deployment/bbb" in out
    assert (
        "1 write(s) were refused by an admission policy or webhook: running again won't help "
        "until it allows them." in out
    )
    assert "rights" not in out
    assert "Once it is allowed, run the same command again to continue" in out
    assert "Run the same command again" not in out
