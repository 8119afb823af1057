"""WorkloadRef: which workload, and every way the output names one. Imports nothing of ours, so
any module, pure or not, can use it without a cycle."""

from __future__ import annotations

from typing import NamedTuple


class WorkloadRef(NamedTuple):
    """A workload (or a pod's owner) by kind, namespace and name.

    A tuple, so it is as cheap as the plain (kind, namespace, name) keys it replaces (one per
    pod of `status -A`) and equal to them: indexes keyed either way agree.
    """

    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        """The run's reports, text and -o json: `Deployment/cart -n shop`."""
        return f"{self.kind}/{self.name} -n {self.namespace}"

    @property
    def short(self) -> str:
        """Within a namespace already said (the status table, the plan): `Deployment/cart`."""
        return f"{self.kind}/{self.name}"

    @property
    def resource(self) -> str:
        """kubectl's TYPE/NAME argument: `deployment/cart`."""
        return f"{self.kind.lower()}/{self.name}"

    @property
    def kubectl(self) -> str:
        """As a kubectl command line names it: `deployment/cart -n shop`."""
        return f"{self.resource} -n {self.namespace}"
