"""Which permissions a plan needs (one question per verb, resource and namespace), and how
the answers are read."""

from kubectl_sidecar import access
from kubectl_sidecar.meshes.asm import MeshConfigChange
from kubectl_sidecar.plan import Override, Plan, Restart
from tests.unit.fake_cluster import FakeCluster


def plan():
    return Plan(
        target="native",
        config_changes=[MeshConfigChange("asm", "ASMMeshConfig", None, "default", "false", "true")],
        overrides=[Override("StatefulSet", "data", "db", "sidecar.istio.io/nativeSidecar", "true")],
        restarts=[
            Restart("Deployment", "shop", "cart", 2),
            Restart("Deployment", "shop", "web", 1),
            Restart("Deployment", "data", "api", 1),
            Restart("Rollout", "shop", "canary", 1),
        ],
    )


def test_one_question_per_distinct_verb_resource_and_namespace():
    needed = [
        (p.on_mesh_instance, p.verb, p.group, p.plural, p.namespace) for p in access.needed(plan())
    ]
    assert needed == [
        (False, "patch", "apps", "deployments", "data"),
        (False, "patch", "apps", "deployments", "shop"),
        (False, "patch", "apps", "statefulsets", "data"),
        (False, "patch", "argoproj.io", "rollouts", "shop"),
        (True, "patch", "istio.alibabacloud.com", "asmmeshconfigs", None),
    ]


def test_refusals_are_named_with_the_context_they_apply_to():
    data_plane = FakeCluster(context="ack-hz", refuse_writes={"Deployment"})
    instance = FakeCluster(context="asm-prod")
    findings = access.check(access.needed(plan()), data_plane, instance)
    assert findings.lines("ack-hz", "asm-prod") == [
        "may not patch deployments.apps in namespace data (context ack-hz): no RBAC policy matched",
        "may not patch deployments.apps in namespace shop (context ack-hz): no RBAC policy matched",
    ]
    assert instance.reviews == [
        {"verb": "patch", "group": "istio.alibabacloud.com", "resource": "asmmeshconfigs"}
    ]


def test_a_question_that_cant_be_asked_is_a_warning_not_a_refusal():
    class NoReviews(FakeCluster):
        def create(self, resource, body, namespace=None):
            from kubectl_sidecar.errors import ApiError

            raise ApiError(404, "NotFound", "the server could not find the requested resource")

    findings = access.check(access.needed(plan()), NoReviews(context="old"))
    assert not findings.refused and len(findings.unchecked) == 5
