"""A write the server refused for good, told apart from one a rerun may get through, and
the report's advice on what to do next."""

import pytest

from kubectl_sidecar import render
from kubectl_sidecar.errors import ApiError
from kubectl_sidecar.execute import Outcome
from kubectl_sidecar.plan import Plan, Restart

RBAC = (
    'deployments.apps "cart" is forbidden: User "viewer" cannot patch resource "deployments" '
    'in API group "apps" in the namespace "shop"'
)
POLICY = (
    "deployments.apps \"cart\" is forbidden: ValidatingAdmissionPolicy 'frozen' with binding "
    "'frozen' denied request: this Deployment is frozen"
)
WEBHOOK = 'admission webhook "gatekeeper.sh" denied the request: no restarts on Fridays'


@pytest.mark.parametrize(
    "status, message, refusal",
    [
        (403, RBAC, "rights"),
        (403, POLICY, "policy"),
        (400, WEBHOOK, "policy"),
        (403, 'pods "x" is forbidden: exceeded quota: compute', "policy"),
        (422, 'Deployment.apps "cart" is invalid: spec.template', "invalid"),
        (409, "Operation cannot be fulfilled: the object has been modified", None),
        (404, 'deployments.apps "cart" not found', None),
        (429, "the server is too busy", None),
        (500, "etcdserver: request timed out", None),
    ],
)
def test_refusal_says_whether_a_rerun_can_help(status, message, refusal):
    assert ApiError(status, "", message).refusal == refusal


def report(*errors):
    """The report's advice after these (ref, ApiError) failures, with one workload not
    started."""
    outcome = Outcome()
    for ref, error in errors:
        outcome.failed.append((ref, error.message))
        outcome.refuse(ref, error)
    outcome.not_started.append("Deployment/zeta -n shop")
    plan = Plan(target="native", restarts=[Restart("Deployment", "shop", "cart", 1)])
    return render.outcome_text([("test", outcome, plan)])


def test_a_policy_refusal_names_the_policy_not_rights_and_one_next_step():
    text = report(("Deployment/cart -n shop", ApiError(403, "Forbidden", POLICY)))
    assert (
        "1 write(s) were refused by an admission policy or webhook: running again won't help "
        "until it allows them." in text
    )
    assert "rights" not in text
    assert "Once it is allowed, run the same command again to continue" in text
    assert "Run the same command again" not in text


def test_an_rbac_refusal_still_asks_for_the_rights():
    text = report(("Deployment/cart -n shop", ApiError(403, "Forbidden", RBAC)))
    assert "running again won't help until you have the rights to make them." in text


def test_a_conflict_is_not_a_refusal_a_rerun_continues():
    text = report(("mesh config", ApiError(409, "Conflict", "the object has been modified")))
    assert "won't help" not in text
    assert "Run the same command again to continue" in text
