"""cluster.prefetched and the paginated list built on it, with fake page sources (no server)."""

import json
import threading

import pytest

from kubectl_sidecar import resources
from kubectl_sidecar.cluster import Cluster, _list_head, prefetched
from kubectl_sidecar.errors import ApiError, Unreachable
from kubectl_sidecar.meshes import asm

WAIT = 5  # seconds; only reached when the code under test is broken


class Source:
    """A page source that records each take, and can hold a take until the test releases it."""

    def __init__(self, count, fail_at=None, hold_at=None):
        self.count, self.fail_at, self.hold_at = count, fail_at, hold_at
        self.taken = []
        self.threads = set()
        self.reached = {n: threading.Event() for n in range(count + 1)}
        self.release = threading.Event()
        self.closed = threading.Event()
        self.closed_in = None

    def __iter__(self):
        return self.pages()

    def pages(self):
        try:
            for n in range(self.count):
                self.threads.add(threading.current_thread().name)
                self.taken.append(n)
                self.reached[n].set()
                if n == self.hold_at:
                    assert self.release.wait(WAIT)
                if n == self.fail_at:
                    raise ApiError(
                        500, "InternalError", "etcd is down", verb="list", resource="pods"
                    )
                yield f"page {n}"
        finally:
            self.closed_in = threading.current_thread().name
            self.closed.set()


def test_pages_come_in_order_and_are_taken_in_another_thread():
    source = Source(5)
    assert list(prefetched(iter(source))) == [f"page {n}" for n in range(5)]
    assert source.threads and threading.current_thread().name not in source.threads


def test_the_next_page_is_taken_while_the_caller_works_but_never_two_ahead():
    source = Source(5)
    pages = prefetched(iter(source))
    assert next(pages) == "page 0"
    # The caller holds page 0: page 1 is taken meanwhile...
    assert source.reached[1].wait(WAIT)
    # ...and page 2 is not, however long the caller takes over page 0.
    assert not source.reached[2].wait(0.3)
    assert source.taken == [0, 1]
    assert next(pages) == "page 1"
    assert source.reached[2].wait(WAIT)
    assert not source.reached[3].wait(0.3)
    pages.close()


def test_an_error_in_the_background_is_raised_in_the_caller_once_as_it_was():
    source = Source(5, fail_at=2)
    pages = prefetched(iter(source))
    assert [next(pages), next(pages)] == ["page 0", "page 1"]
    with pytest.raises(ApiError) as raised:
        next(pages)
    assert raised.value.status == 500 and raised.value.message == "etcd is down"
    # Ended: no second report of the same error, nothing more taken.
    assert list(pages) == []
    assert source.taken == [0, 1, 2]


def test_leaving_early_stops_taking_and_closes_the_source_in_its_own_thread():
    source = Source(10)
    pages = prefetched(iter(source))
    for page in pages:
        if page == "page 1":
            break
    pages.close()
    assert source.closed.wait(WAIT)
    assert source.closed_in in source.threads
    assert source.taken in ([0, 1], [0, 1, 2])  # page 2 may have been in flight


def test_leaving_while_a_take_is_in_flight_lets_it_finish_and_takes_nothing_after():
    source = Source(10, hold_at=1)
    pages = prefetched(iter(source))
    assert next(pages) == "page 0"
    assert source.reached[1].wait(WAIT)  # the take of page 1 is blocked in the "network"
    pages.close()  # returns at once: nothing waits for the take in flight
    source.release.set()
    assert source.closed.wait(WAIT)
    assert source.taken == [0, 1]


# --- the paginated list on top of it ----------------------------------------------------------


class Answer:
    def __init__(self, body):
        self.body = body


def pod_page(names, token=None, version="100"):
    """A page as the API server writes a built-in list: kind, apiVersion, metadata, items."""
    metadata = {"resourceVersion": version}
    if token:
        metadata["continue"] = token
    return json.dumps(
        {
            "kind": "PodList",
            "apiVersion": "v1",
            "metadata": metadata,
            "items": [{"metadata": {"name": n, "namespace": "shop"}} for n in names],
        },
        separators=(",", ":"),
    ).encode()


def custom_page(names, token=None):
    """A custom resource's list: its keys sorted, so metadata comes after the items."""
    metadata = {"resourceVersion": "7", **({"continue": token} if token else {})}
    return json.dumps(
        {
            "apiVersion": "example.com/v1",
            "items": [{"metadata": {"name": n}} for n in names],
            "kind": "WidgetList",
            "metadata": metadata,
        },
        sort_keys=True,
        separators=(",", ":"),
    ).encode()


@pytest.fixture
def cluster(monkeypatch):
    """A Cluster whose requests are answered from `cluster.answers` (a list of bodies, or
    exceptions to raise); each request's query is recorded in `cluster.sent`."""
    from kubernetes.client import Configuration

    configuration = Configuration()
    configuration.host = "http://127.0.0.1:1"
    cluster = Cluster(configuration, "test", "default")
    cluster.answers, cluster.sent = [], []

    def send(method, path, params=None, *args, **kwargs):
        cluster.sent.append(dict(params or {}))
        answer = cluster.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return Answer(answer)

    monkeypatch.setattr(cluster, "_send", send)
    return cluster


def test_a_list_follows_continue_tokens_and_tells_its_version(cluster):
    cluster.answers = [
        pod_page(["a", "b"], token="t1", version="42"),
        pod_page(["c"], token="t2", version="42"),
        pod_page(["d"], version="42"),
    ]
    listing = cluster.list_items(resources.PODS)
    assert [pod["metadata"]["name"] for pod in listing] == ["a", "b", "c", "d"]
    assert listing.resource_version == "42"
    assert [sent.get("continue") for sent in cluster.sent] == [None, "t1", "t2"]
    assert {sent["limit"] for sent in cluster.sent} == {500}


def test_a_list_whose_metadata_comes_last_is_followed_too(cluster):
    cluster.answers = [custom_page(["w1"], token="t1"), custom_page(["w2"])]
    listing = cluster.list_items(asm.MESH_CONFIGS)
    assert [item["metadata"]["name"] for item in listing] == ["w1", "w2"]
    assert listing.resource_version == "7"
    assert [sent.get("continue") for sent in cluster.sent] == [None, "t1"]


def test_an_error_on_a_later_page_reaches_the_caller_after_the_earlier_pages(cluster):
    refused = Unreachable("the connection to the server 127.0.0.1:1 failed: connection reset")
    cluster.answers = [pod_page(["a"], token="t1"), refused]
    seen = []
    with pytest.raises(Unreachable) as raised:
        for pod in cluster.list_items(resources.PODS):
            seen.append(pod["metadata"]["name"])
    assert raised.value is refused
    assert seen == ["a"]


def test_a_page_that_is_not_json_is_one_clear_error(cluster):
    cluster.answers = [b"<html>proxy error</html>"]
    with pytest.raises(Exception, match="not JSON; is this a Kubernetes API server"):
        list(cluster.list_items(resources.PODS))


@pytest.mark.parametrize(
    "body, metadata",
    [
        (pod_page([], token="abc", version="9"), {"resourceVersion": "9", "continue": "abc"}),
        (
            b'{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"9"}}',
            {"resourceVersion": "9"},
        ),
        (custom_page(["w"]), None),  # metadata after the items: decoded whole instead
        (b'{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"9",', None),
        (b"", None),
    ],
)
def test_a_lists_metadata_is_read_from_its_head(body, metadata):
    assert _list_head(body) == metadata
