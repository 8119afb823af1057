"""A mesh-wide switch's steps (switch.run's scope, make_plan, check): what must hold before
its config change (a mesh named and found on the cluster, the control plane's and the nodes'
preflight, pods in a -n scope), and its plan, each change in its owner's terms: through the Sail
operator's own resource, refused where Argo CD or Flux would undo it (unless --force) or the
platform (Kyma, AKS) decides it.

Reads go through the cluster handed in (cluster.py); the decisions are preflight's, owners' and
plan's pure functions.
"""

from kubectl_sidecar import meshread, owners, preflight, resources
from kubectl_sidecar import plan as planning
from kubectl_sidecar.classify import NATIVE
from kubectl_sidecar.errors import SidecarError, unless_forbidden
from kubectl_sidecar.meshes import reading, registry
from kubectl_sidecar.status import Scope


def mesh_wide_steps(cluster, options, console):
    """(scope, make_plan, check) of a mesh-wide switch on one cluster.

    The config change reaches every namespace, so every namespace is read; with
    options.restart_namespace only that one's workloads are restarted, and the plan says how
    many elsewhere keep the old mode until they are.
    """

    def check(report):
        if report.mesh.name == "none":
            raise SidecarError(
                f"{report.mesh.mesh_wide.source}; name the mesh with --mesh "
                f"(and --mesh-context for {registry.on_mesh_instance_titles()})"
            )
        _preflight(cluster, report, options, console)
        if not report.mesh.found:
            # Its settings would be guesses: a switch would restart everything for nothing.
            raise SidecarError(
                f"--mesh {report.mesh.name}: its configuration is not on this cluster "
                f"({report.mesh.describe()}); nothing was changed"
            )
        if (
            options.restart_namespace
            and not options.no_restart
            and not any(row.namespace == options.restart_namespace for row in report.rows)
        ):
            # A mistyped -n would change the mesh for every namespace and restart nothing.
            raise SidecarError(
                f"no pods in namespace {options.restart_namespace}: the mesh config change "
                "applies to every namespace, and nothing here would be restarted; check the "
                "namespace, or change only the config with --no-restart"
            )

    def make_plan(report, facts):
        plan = planning.plan_switch(report.rows, report.mesh, options.target, facts)
        plan.config_changes = [
            _through_operator(change, cluster)
            for change in owners.attach(
                plan.config_changes, lambda: _argocd_applications(report.mesh, cluster)
            )
        ]
        _check_owners(plan.config_changes, options, console)
        if options.restart_namespace:
            plan.limit_to(options.restart_namespace)
        return plan

    return Scope(namespace=None), make_plan, check


def _argocd_applications(mesh, cluster):
    """The Argo CD Applications' names, as status's read of the mesh config listed them (its
    owners come from the same list), else listed now."""
    if mesh.argocd_applications is not None:
        return mesh.argocd_applications
    return reading.argocd_applications(cluster)


def _through_operator(change, cluster):
    """The change in its operator's own resource where an operator renders the object (the
    mesh module's optional `operator_change`); else the change itself, which _check_owners
    then refuses."""
    if change.owner is None or change.owner.treatment is not owners.Treatment.OPERATOR:
        return change
    operator_change = getattr(registry.control_plane(change.mesh), "operator_change", None)
    found = operator_change(change, cluster) if operator_change else None
    return found or change


def _check_owners(changes, options, console):
    """Refuse, before any write, a change its object's owner would undo or decides itself
    (owners.refusal); a dry run only says so, for it writes nothing and its plan names the
    change in the owner's terms (what a pull request needs)."""
    for change in changes:
        found = owners.refusal(change)
        if found is None:
            continue
        problem, forceable = found
        if options.dry_run:
            console.err(f"Warning: a switch would be refused: {problem}")
        elif not forceable:
            raise SidecarError(f"refusing to switch to {options.target} sidecars: {problem}")
        elif not options.force:
            raise SidecarError(
                f"refusing to switch to {options.target} sidecars: {problem} "
                "(--force to patch it anyway; nothing was changed)"
            )
        else:
            console.err(f"Warning: {problem} (continuing: --force)")


def _preflight(cluster, report, options, console):
    for problem, forceable in preflight.control_plane_problems(report.mesh, options.target):
        refusal = f"refusing to switch to {options.target} sidecars: {problem}"
        if not forceable:
            raise SidecarError(refusal)
        if not options.force:
            raise SidecarError(refusal + " (--force to switch anyway)")
        console.err(f"Warning: {problem} (continuing: --force)")
    if options.target == NATIVE:
        kubelets = meshread.node_kubelet_versions(cluster)
        if kubelets is None:
            console.err("Warning: can't list nodes to check their kubelet versions")
        problems = preflight.too_old_for_native(cluster.server_version(), kubelets)
        if problems and not options.force:
            raise SidecarError(
                "refusing to switch to native sidecars: "
                + "; ".join(problems)
                + " (--force to switch anyway)"
            )
        for problem in problems:
            console.err(f"Warning: {problem} (continuing: --force)")
    webhooks = preflight.foreign_pod_webhooks(
        unless_forbidden(
            lambda: cluster.list_all(resources.MUTATING_WEBHOOKS),
            fallback=[],
            warn=lambda _: console.err(
                "Warning: can't list mutating webhooks to check for ones that break native sidecars"
            ),
        )
    )
    for warning in preflight.warnings_for(options.target, report.rows, webhooks):
        console.err(f"Warning: {warning}")
