import json
from datetime import datetime, timezone

import pytest
import yaml

from kubectl_sidecar import render
from kubectl_sidecar.actions import assess
from kubectl_sidecar.classify import classify_pod
from kubectl_sidecar.meshconfig import desired_setting
from kubectl_sidecar.meshes.asm import asm_config
from kubectl_sidecar.refs import WorkloadRef
from kubectl_sidecar.status import Report, Scope
from tests.unit import pods

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)


def report(all_namespaces=True):
    mesh = asm_config({"spec": {"enableNativeSidecar": False}}, "asm")
    specs = [
        (
            pods.istio("native", name="cart-1", owner=("ReplicaSet", "cart-7d9")),
            ("Deployment", "cart"),
        ),
        (pods.istio("traditional", name="db-0", namespace="data"), ("StatefulSet", "db")),
        (pods.pod(name="plain", namespace="data"), None),
        (pods.istio("native", name="debug"), None),
    ]
    rows = []
    for pod, workload in specs:
        row = classify_pod(pod)
        row.workload = WorkloadRef(workload[0], row.namespace, workload[1]) if workload else None
        assess(row, desired_setting(row, mesh), {})
        rows.append(row)
    return Report(scope=Scope(None if all_namespaces else "shop"), mesh=mesh, rows=rows)


def table(r, **options):
    return render.pod_table(r.scope, r.rows, now=NOW, **options)


def test_table_is_kubectl_shaped_with_namespace_first_under_all_namespaces():
    lines = table(report()).splitlines()
    assert lines[0].split() == [
        "NAMESPACE",
        "POD",
        "WORKLOAD",
        "PROXY",
        "MODE",
        "DESIRED",
        "ACTION",
    ]
    assert lines[1].split() == [
        "shop",
        "cart-1",
        "Deployment/cart",
        "istio-proxy",
        "native",
        "traditional",
        "restart",
        "Deployment/cart",
    ]
    assert lines[3].split() == ["data", "plain", "<none>", "<none>", "none", "-", "-"]
    assert lines[4].split()[-1] == "recreate"
    # Columns line up: every row's MODE starts where the header's does.
    start = lines[0].index("MODE")
    assert all(
        line[start:].split()[0] in ("MODE", "native", "traditional", "none") for line in lines
    )


def test_table_without_all_namespaces_drops_the_column_and_wide_adds_three():
    lines = table(report(False), wide=True).splitlines()
    assert lines[0].split() == [
        "POD",
        "WORKLOAD",
        "PROXY",
        "MODE",
        "DESIRED",
        "ACTION",
        "NODE",
        "REVISION",
        "AGE",
    ]
    assert lines[1].split()[-3:] == ["node-1", "default", "4d"]


def test_no_headers_prints_only_rows():
    text = table(report(), no_headers=True)
    assert len(text.splitlines()) == 4 and "NAMESPACE" not in text


def test_table_printed_in_parts_has_one_header_and_columns_that_only_widen():
    r = report()
    short, long_ = r.rows[2], r.rows[0]  # data/plain, then shop/cart-1 with a longer workload
    long_.name = "cart-with-a-much-longer-pod-name"
    parts = render.PodTable(all_namespaces=True, now=NOW)
    first = parts.render([short]).splitlines()
    second = parts.render([long_]).splitlines()
    assert parts.render([]) == ""
    assert [line.split()[0] for line in first + second] == ["NAMESPACE", "data", "shop"]
    # The first part is aligned for itself; the second widens POD, and a third part with short
    # names keeps the wider alignment rather than shrinking back.
    assert first[0].index("WORKLOAD") < second[0].index("Deployment/cart")
    third = parts.render([short]).splitlines()
    assert third[0].index("<none>") == second[0].index("Deployment/cart")
    # Printed whole, the rows after the widest align exactly as they did in parts.
    whole = render.pod_table(r.scope, [short, long_, short], now=NOW).splitlines()
    assert whole[2:] == second + third and whole[1] != first[1]


def test_summary_line_names_mesh_source_counts_and_restarts():
    r = report()
    line = render.summary_lines([("c", r.mesh, r.tally())], r.tally())
    assert (
        "asm: traditional (ASMMeshConfig/default on context asm spec.enableNativeSidecar=false)"
        in line
    )
    assert "2 native, 1 traditional, 1 none" in line
    assert "2 pod(s) need action, 1 workload(s) to restart" in line


def test_namespace_summary_counts_modes_per_namespace():
    lines = render.namespace_summary([("c", report().tally())]).splitlines()
    assert lines[0].split() == [
        "NAMESPACE",
        "NATIVE",
        "TRADITIONAL",
        "INVALID",
        "GATEWAY",
        "AMBIENT",
        "NONE",
        "NEEDS-ACTION",
    ]
    assert lines[1].split() == ["data", "0", "1", "0", "0", "0", "1", "0"]
    assert lines[2].split() == ["shop", "2", "0", "0", "0", "0", "0", "2"]


def streamed(report, output, page=1, rows=None):
    """The document as status writes it: items a page at a time, summary and warnings last."""
    written = []
    rows = report.rows if rows is None else rows
    document = render.StreamedDocument(
        output, written.append, lambda: render.status_head({"c": report.mesh})
    )
    for start in range(0, len(rows), page):
        document.add(render.item(row) for row in rows[start : start + page])
    document.finish({"summary": report.tally().summary(), "warnings": list(report.warnings)})
    return "".join(written)


def document(report, rows=None):
    """render.document of one context, with only these rows as its items (the summary still
    counts every row, as status --needs-restart writes it)."""
    whole = render.document({"c": report}, report.tally())
    if rows is not None:
        whole["items"] = [render.item(row) for row in rows]
    return whole


@pytest.mark.parametrize("output", ["json", "yaml"])
@pytest.mark.parametrize("page", [1, 2, 500])
def test_a_streamed_document_is_the_whole_document_as_dump_writes_it(output, page):
    whole = report()
    whole.warnings.append("istiod's env may be managed by an IstioOperator or Helm release")
    assert streamed(whole, output, page) == render.dump(document(whole), output)
    few = whole.rows[1:2]
    assert streamed(whole, output, page, few) == render.dump(document(whole, few), output)


@pytest.mark.parametrize("output", ["json", "yaml"])
def test_a_streamed_document_without_items_has_an_empty_list(output):
    empty = report()
    text = streamed(empty, output, rows=[])
    assert text == render.dump(document(empty, []), output)
    parsed = json.loads(text) if output == "json" else yaml.safe_load(text)
    assert parsed["items"] == [] and parsed["summary"]["pods"] == len(empty.rows)


def test_summary_and_warnings_come_after_the_items():
    text = streamed(report(), "json")
    assert list(json.loads(text)) == ["apiVersion", "kind", "mesh", "items", "summary", "warnings"]


def test_json_contract_and_yaml_say_the_same():
    doc = json.loads(streamed(report(), "json"))
    assert (doc["apiVersion"], doc["kind"]) == ("kubectl-sidecar/v1alpha1", "SidecarStatus")
    assert doc["mesh"]["name"] == "asm" and doc["mesh"]["configuredMode"] == "traditional"
    assert doc["summary"]["modes"]["native"] == 2
    first = doc["items"][0]
    assert {
        k: first[k]
        for k in (
            "namespace",
            "pod",
            "workload",
            "proxy",
            "mode",
            "desiredMode",
            "needsRestart",
            "action",
        )
    } == {
        "namespace": "shop",
        "pod": "cart-1",
        "workload": {"kind": "Deployment", "name": "cart"},
        "proxy": "istio-proxy",
        "mode": "native",
        "desiredMode": "traditional",
        "needsRestart": True,
        "action": "restart Deployment/cart",
    }
    assert doc["items"][2]["workload"] is None and doc["items"][2]["proxy"] is None
    assert yaml.safe_load(streamed(report(), "yaml")) == doc


def test_age_is_short_like_kubectl():
    assert render.age("2026-11-24T11:59:15Z", NOW) == "45s"
    assert render.age("2026-11-24T11:00:00Z", NOW) == "60m"
    assert render.age("2026-11-24T02:00:00Z", NOW) == "10h"
    assert render.age(None, NOW) == "<unknown>"


def test_whole_tables_by_tabulate_look_like_kubectl_columns():
    from kubectl_sidecar.render import columns, whole_table

    headers = ["NAMESPACE", "WORKLOAD", "PODS-TO-SWITCH"]
    rows = [["shop", "Deployment/cart", "12"], ["data-long-name", "StatefulSet/db", "3"]]
    assert (
        whole_table(headers, rows)
        == columns(headers, rows)
        == (
            "NAMESPACE        WORKLOAD          PODS-TO-SWITCH\n"
            "shop             Deployment/cart   12\n"
            "data-long-name   StatefulSet/db    3\n"
        )
    )
    assert whole_table(headers, rows, no_headers=True) == columns(headers, rows, no_headers=True)
    assert whole_table(headers, [], no_headers=True) == ""


@pytest.mark.parametrize(
    "value",
    [
        {},
        [],
        None,
        True,
        3.5,
        'naïve "quoted"\n',
        {"a": {"b": [], "c": {}, "d": [1, {"e": None}]}, "f": ["x", ["y"]]},
        [{"kind": "Deployment", "name": "cart"}, None, 7],
    ],
)
def test_indented_json_is_what_json_dumps_writes(value):
    assert render.indented_json(value) == json.dumps(value, indent=2)
    nested = json.dumps({"key": value}, indent=2)
    assert nested == "{\n  " + '"key": ' + render.indented_json(value, 2) + "\n}"


def test_ambient_pods_are_a_mode_of_their_own_and_counted_in_every_summary():
    mesh = asm_config({"spec": {"enableNativeSidecar": False}}, "asm")
    redirected = {"ambient.istio.io/redirection": "enabled"}
    specs = [
        pods.pod(name="amb", annotations=redirected),
        pods.istio("native", name="both", annotations=redirected),
        pods.pod(name="waiting", labels={"istio.io/dataplane-mode": "ambient"}),
    ]
    rows = []
    for pod in specs:
        row = classify_pod(pod)
        assess(row, desired_setting(row, mesh), {})
        rows.append(row)
    r = Report(scope=Scope("shop"), mesh=mesh, rows=rows)
    lines = table(r).splitlines()
    assert lines[1].split() == ["amb", "<none>", "<none>", "ambient", "-", "-"]
    assert lines[2].split() == [
        "both",
        "<none>",
        "istio-proxy",
        "native",
        "traditional",
        "recreate",
    ]
    assert lines[3].split() == ["waiting", "<none>", "<none>", "none", "-", "-"]
    tally = r.tally()
    line = render.summary_line(mesh, tally)
    assert "Pods: 1 native, 1 ambient, 1 none." in line
    assert "1 pod(s) labelled for ambient but not redirected" in line
    doc = render.document({"c": r}, tally)
    assert doc["summary"]["modes"]["ambient"] == 1
    assert doc["summary"]["ambientNotRedirected"] == 1
    items = {i["pod"]: i for i in doc["items"]}
    assert (items["amb"]["mode"], items["amb"]["ambient"]) == ("ambient", "redirected")
    assert items["amb"]["needsRestart"] is False and items["amb"]["desiredMode"] is None
    assert (items["both"]["mode"], items["both"]["ambient"]) == ("native", "sidecar wins")
    assert items["waiting"]["ambient"] == "not redirected"
    assert items["waiting"]["problems"] == [
        "labelled for ambient but not redirected: is istio-cni running?"
    ]
    headers = render.namespace_summary([("c", tally)]).splitlines()
    assert headers[1].split() == ["shop", "1", "0", "0", "0", "1", "1", "1"]
