"""The fake is held to the real Cluster's interface, and honours every argument it is given."""

import inspect

import pytest

from kubectl_sidecar import resources
from kubectl_sidecar.cluster import Cluster, ClusterApi
from tests.unit.fake_cluster import FakeCluster

METHODS = [
    name for name, value in vars(ClusterApi).items() if callable(value) and not name.startswith("_")
]


def parameters(function):
    return [(p.name, p.default) for p in inspect.signature(function).parameters.values()]


@pytest.mark.parametrize("name", METHODS)
def test_cluster_and_fake_take_exactly_the_protocols_arguments(name):
    declared = parameters(getattr(ClusterApi, name))
    assert parameters(getattr(Cluster, name)) == declared
    assert parameters(getattr(FakeCluster, name)) == declared


def pod(name, labels, node="node-1"):
    return {
        "metadata": {"name": name, "namespace": "shop", "labels": labels},
        "spec": {"nodeName": node},
    }


@pytest.fixture
def fake():
    return FakeCluster(
        {
            "Pod": [
                pod("a", {"app": "cart", "tier": "web"}),
                pod("b", {"app": "cart", "tier": "db"}, node="node-2"),
                pod("c", {"app": "shop"}),
            ]
        }
    )


@pytest.mark.parametrize(
    "selector, names",
    [
        ("app=cart", ["a", "b"]),
        ("app=cart,tier!=db", ["a"]),
        ("app==cart,tier", ["a", "b"]),
        ("!tier", ["c"]),
        ("app in (shop, other)", ["c"]),
        ("app notin (shop),tier in (db)", ["b"]),
    ],
)
def test_label_selectors_of_several_terms(fake, selector, names):
    assert [
        p["metadata"]["name"] for p in fake.list_items(resources.PODS, selector=selector)
    ] == names


def test_field_selectors_are_applied(fake):
    found = fake.list_all(resources.PODS, field_selector="spec.nodeName=node-2,metadata.name!=x")
    assert [p["metadata"]["name"] for p in found] == ["b"]


def test_a_selector_it_cant_evaluate_is_an_error_not_ignored(fake):
    with pytest.raises(ValueError):
        fake.list_all(resources.PODS, selector="app=cart,(weird")
