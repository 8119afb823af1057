"""Reading `kubectl sidecar status -o json` documents in e2e tests."""


def items_by_workload(report):
    """{workload name: [items]} of a SidecarStatus document."""
    grouped = {}
    for item in report["items"]:
        grouped.setdefault(item["workload"]["name"], []).append(item)
    return grouped
