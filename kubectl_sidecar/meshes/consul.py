"""Consul (consul-k8s): the consul-dataplane sidecar (Envoy beside a consul-sidecar before 1.0),
and the connect-injector's -default-enable-consul-dataplane-as-sidecar flag, which a switch
rewrites in the injector Deployment's command.

The connect-injector decides per pod: the pod's annotation
consul.hashicorp.com/enable-consul-dataplane-as-sidecar if set, else its own flag
-default-enable-consul-dataplane-as-sidecar (Helm:
connectInject.dataplaneAsSidecarInitContainer.defaultEnabled), false when absent.

Implements base.ProxyFamily and base.ControlPlane.
"""

import re
from typing import NamedTuple

from kubectl_sidecar import owners, resources
from kubectl_sidecar.errors import SidecarError
from kubectl_sidecar.meshes import base, reading
from kubectl_sidecar.meshes.base import (
    Check,
    ConfigChange,
    MeshConfig,
    Setting,
    mode_value,
    parse_bool,
)
from kubectl_sidecar.patches import Patch
from kubectl_sidecar.resources import STRATEGIC_MERGE_PATCH

NAME = FAMILY = "consul"
TITLE = "Consul"

# --- its pods ------------------------------------------------------------------------------

# consul-k8s marks every pod it injects (annotation and label alike) with this; pre-1.0 too.
CONSUL_INJECT_STATUS = "consul.hashicorp.com/connect-inject-status"


def has_mark(container, metadata, init_containers):
    """consul-k8s injected the pod: names too generic to trust alone count only then."""
    annotations = metadata.get("annotations") or {}
    if annotations.get(CONSUL_INJECT_STATUS) == "injected":
        return True
    return (metadata.get("labels") or {}).get(CONSUL_INJECT_STATUS) == "injected"


PROXIES: dict[str, Check | None] = {
    "consul-dataplane": None,
    # consul-k8s before 1.0 (0.24-0.49) and before 0.24: Envoy ran beside a consul-sidecar
    # (consul-connect-lifecycle-sidecar), which never counts.
    "envoy-sidecar": has_mark,
    "consul-connect-envoy-sidecar": has_mark,
}
# consul-k8s multi-port pods get one proxy per service, named `<proxy>-<service>`.
PROXY_PREFIXES: dict[str, Check] = {"consul-dataplane-": has_mark, "envoy-sidecar-": has_mark}
OVERRIDE_ANNOTATIONS: tuple[str, ...] = ("consul.hashicorp.com/enable-consul-dataplane-as-sidecar",)
COPIES_NAMESPACE_MODE = False
INJECTOR_WEBHOOKS: tuple[str, ...] = ("consul-connect-injector",)

is_gateway = base.not_a_gateway
revision = base.no_revision
lifecycle_settings = base.no_lifecycle_settings


def injector_hook(container, hook, command):
    return False


# --- its config: the connect-injector's flag -------------------------------------------------

CONSUL_FLAG = "default-enable-consul-dataplane-as-sidecar"
CONSUL_SUBCOMMAND = "inject-connect"  # `consul-k8s-control-plane inject-connect -flags...`
# The Helm chart labels the injector Deployment (<release>-consul-connect-injector) so.
CONSUL_INJECTOR_SELECTOR = "component=connect-injector"
CONFIG_OBJECTS = f"Consul's connect-injector {CONSUL_INJECTOR_SELECTOR}"
CONFIG_ON_MESH_INSTANCE = False
# consul-k8s PR #4678 shipped in 1.9.0 and was backported to these patch releases; older
# injectors don't know the flag (an injector given it exits: "flag provided but not defined").
CONSUL_NATIVE_BACKPORTS = {(1, 6): 9, (1, 7): 5, (1, 8): 2}
CONSUL_NATIVE_SINCE = (1, 9)
CONSUL_NATIVE_RELEASES = "consul-k8s 1.9.0 or later, or 1.6.9, 1.7.5, 1.8.2"
CONSUL_HELM_VALUE = "connectInject.dataplaneAsSidecarInitContainer.defaultEnabled"
HELM_VALUE: str | None = CONSUL_HELM_VALUE  # base.ControlPlane's name for it

_SHELLS = frozenset({"sh", "bash", "ash", "dash", "zsh"})
# Pattern sources, compiled (and cached by re) where used: compiled here they cost every start
# of every command, on clusters without Consul too.
# In a shell script the flag is a word of its own, perhaps quoted, perhaps with =value.
_CONSUL_FLAG_WORD = (
    r"(?<!\S)(['\"]?)(--?)" + re.escape(CONSUL_FLAG) + r"(?:=(['\"]?)([^\s'\"]*)\3)?\1(?!\S)"
)
_SUBCOMMAND_WORD = r"(?<!\S)" + re.escape(CONSUL_SUBCOMMAND) + r"(?!\S)"
_END_OF_FLAGS_WORD = r"(?<!\S)--(?!\S)"
_NEXT_WORD = r"(?:\s|\\\n)*([^\s\\]\S*)"
_IMAGE_TAG_VERSION = r"v?(\d+)\.(\d+)(?:\.(\d+))?"


# Written out, not a dataclass, whose generated methods are compiled at every start of every
# command: never compared or printed.
class _FlagUse:
    """One occurrence of the flag: in `field` ("command" or "args") element `index`, either
    the whole element (span None) or, in a shell script, the characters span[0]:span[1]."""

    __slots__ = ("field", "index", "span", "dashes", "value", "next_word")

    def __init__(
        self,
        field: str,
        index: int,
        span: tuple[int, int] | None,
        dashes: str,
        value: str | None,
        next_word: str | None,
    ):
        self.field = field
        self.index = index
        self.span = span
        self.dashes = dashes
        self.value = value  # None for the bare flag, which Go reads as true
        self.next_word = next_word  # what follows it, to tell `-flag false` apart

    @property
    def text(self):
        return f"{self.dashes}{CONSUL_FLAG}" + ("" if self.value is None else f"={self.value}")


def consul_injector_container(deployment):
    """The container of a Deployment that runs consul-k8s's `inject-connect`, or None."""
    for container in reading.containers(deployment):
        argv = list(container.get("command") or ()) + list(container.get("args") or ())
        if CONSUL_SUBCOMMAND in argv or any(
            re.compile(_SUBCOMMAND_WORD).search(script)
            for _, _, script in _shell_scripts(container)
        ):
            return container
    return None


def consul_k8s_version(deployment):
    """consul-k8s (major, minor, patch) of the injector's image tag; patch None if the tag has
    none ("1.10-dev"); None when the tag says nothing (a digest, "latest")."""
    container = consul_injector_container(deployment) or {}
    image = (container.get("image") or "").split("@", 1)[0]
    tail = image.rsplit("/", 1)[-1]
    if ":" not in tail:
        return None
    match = re.compile(_IMAGE_TAG_VERSION).match(tail.rsplit(":", 1)[-1])
    if not match:
        return None
    patch = int(match.group(3)) if match.group(3) is not None else None
    return (int(match.group(1)), int(match.group(2)), patch)


def consul_supports_native(version):
    """Whether consul-k8s `version` (from consul_k8s_version) can inject consul-dataplane as a
    native sidecar: True, False, or None when the version doesn't say."""
    if version is None:
        return None
    major_minor, patch = version[:2], version[2]
    if major_minor >= CONSUL_NATIVE_SINCE:
        return True
    if major_minor not in CONSUL_NATIVE_BACKPORTS:
        return False
    if patch is None:
        return None
    return patch >= CONSUL_NATIVE_BACKPORTS[major_minor]


def _argv(container):
    """(field, index, value) of each element of command + args: what the container runs."""
    return [("command", i, str(v)) for i, v in enumerate(container.get("command") or ())] + [
        ("args", i, str(v)) for i, v in enumerate(container.get("args") or ())
    ]


def _shell_scripts(container):
    """(field, index, text) of each `sh -c SCRIPT` script in the container's command + args.

    The Helm chart runs the injector as `/bin/sh -ec "exec consul-k8s-control-plane
    inject-connect \\ -flag=value \\ ..."`: its flags live inside that one string.
    """
    argv = _argv(container)
    for position in range(2, len(argv)):
        shell, option = argv[position - 2][2], argv[position - 1][2]
        if shell.rsplit("/", 1)[-1] in _SHELLS and option.startswith("-") and option.endswith("c"):
            yield argv[position]


def _consul_flag_uses(container):
    """Every place the injector reads the flag from, in the order Go parses them (the last one
    wins): argv elements after `inject-connect`, or words after it in a shell script. Go stops
    reading flags at `--`."""
    uses = []
    argv = _argv(container)
    scripts = {(where, index): script for where, index, script in _shell_scripts(container)}
    reading = False
    for position, (where, index, value) in enumerate(argv):
        if (where, index) in scripts:
            uses += _script_flag_uses(where, index, value)
            continue
        if value == CONSUL_SUBCOMMAND and not reading:
            reading = True
            continue
        if not reading:
            continue
        if value == "--":
            break
        dashes, rest = ("--", value[2:]) if value.startswith("--") else ("-", value[1:])
        if not value.startswith("-") or (
            rest != CONSUL_FLAG and not rest.startswith(CONSUL_FLAG + "=")
        ):
            continue
        flag_value = rest.split("=", 1)[1] if "=" in rest else None
        next_word = argv[position + 1][2] if position + 1 < len(argv) else None
        uses.append(_FlagUse(where, index, None, dashes, flag_value, next_word))
    return uses


def _script_flag_uses(where, index, script):
    subcommand = re.compile(_SUBCOMMAND_WORD).search(script)
    if not subcommand:
        return []
    end = re.compile(_END_OF_FLAGS_WORD).search(script, subcommand.end())
    stop = end.start() if end else len(script)
    uses = []
    for match in re.compile(_CONSUL_FLAG_WORD).finditer(script, subcommand.end(), stop):
        following = re.compile(_NEXT_WORD).match(script, match.end())
        uses.append(
            _FlagUse(
                where,
                index,
                match.span(),
                match.group(2),
                match.group(4),
                following.group(1) if following else None,
            )
        )
    return uses


def consul_setting(deployment):
    """Setting of the connect-injector: its -default-enable-consul-dataplane-as-sidecar flag."""
    metadata = deployment.get("metadata") or {}
    where = f"Deployment {metadata.get('namespace')}/{metadata.get('name')}"
    container = consul_injector_container(deployment)
    if container is None:
        return Setting(None, f"{where} runs no `consul-k8s-control-plane {CONSUL_SUBCOMMAND}`")
    uses = _consul_flag_uses(container)
    if not uses:
        version = consul_k8s_version(deployment)
        if consul_supports_native(version) is False:
            return Setting(
                False,
                f"{where} runs consul-k8s {release_text(version)}, which can't "
                f"inject native (that needs {CONSUL_NATIVE_RELEASES})",
            )
        return Setting(False, f"{where} has no -{CONSUL_FLAG} (default false)")
    last = uses[-1]
    if last.value is None:
        source = f"{where} arg {last.text}"
        if last.next_word is not None and parse_bool(last.next_word) is not None:
            # Go's bool flags take no separate value: `-flag false` is true, and Go stops
            # reading flags at "false", ignoring every flag after it.
            source += (
                f" followed by {last.next_word!r}: Go reads it as true and stops "
                "reading flags there"
            )
        return Setting(True, source)
    native = parse_bool(last.value)
    if native is None:
        return Setting(None, f"{where} arg {last.text}: not a Go bool, the injector won't start")
    return Setting(native, f"{where} arg {last.text}")


def consul_flag_text(deployment):
    """The flag as the injector's command spells it where Go reads it last
    ("-default-enable-consul-dataplane-as-sidecar=true"), or None when it isn't given."""
    container = consul_injector_container(deployment)
    uses = _consul_flag_uses(container) if container is not None else []
    return uses[-1].text if uses else None


def release_text(version):
    """(1, 8, None) -> "1.8", (1, 9, 0) -> "1.9.0"."""
    return ".".join(str(part) for part in version if part is not None)


class Injector(NamedTuple):
    """MeshConfig.payload of Consul: the connect-injector as read. Its flag lives inside a
    command or script that a switch must rewrite whole, so the patch is built from this very
    object."""

    injector: tuple  # (namespace, name, container) of the connect-injector
    deployment: dict


def lease_namespace(config):
    """The connect-injector's namespace (the chart's usual one when there is none)."""
    return config.payload.injector[0] if config.payload else CONSUL_NAMESPACES[0]


def consul_config(deployment, context=None):
    """MeshConfig from consul-k8s's connect-injector Deployment (None if there is none)."""
    if deployment is None:
        return MeshConfig(
            name=NAME,
            family=FAMILY,
            context=context,
            mesh_wide=Setting(
                None,
                f"no consul-k8s connect-injector Deployment ({CONSUL_INJECTOR_SELECTOR}) found",
            ),
        )
    metadata = deployment.get("metadata") or {}
    container = consul_injector_container(deployment)
    # The Helm caveat belongs to a switch (InjectorChange says it), not to every status.
    return MeshConfig(
        name=NAME,
        family=FAMILY,
        context=context,
        mesh_wide=consul_setting(deployment),
        payload=Injector(
            (
                metadata.get("namespace"),
                metadata.get("name"),
                container.get("name") if container else None,
            ),
            deployment,
        ),
        native_supported=consul_supports_native(consul_k8s_version(deployment)),
        owners=_owners(metadata),
        owned={base.MESH_WIDE: metadata},
    )


def _owners(metadata):
    owner = owners.detect(metadata)
    return {} if owner is None else {base.MESH_WIDE: owner}


def consul_injector_patch(deployment, native):
    """The injector's container entry for a strategic merge patch of the Deployment's
    spec.template.spec.containers that sets -default-enable-consul-dataplane-as-sidecar to
    `native`: {"name": ..., "command" and/or "args": [...]}, every other element as it was.
    None when the injector already injects that mode.

    Each occurrence of the flag is rewritten in place (keeping its dashes and quotes); without
    one, the flag goes right after `inject-connect`, where Go always reads it (a flag after
    the first non-flag argument would be ignored). Raises SidecarError when there is no
    injector container, or when adding the flag could stop an injector that predates it.
    """
    container = consul_injector_container(deployment)
    metadata = deployment.get("metadata") or {}
    where = f"Deployment {metadata.get('namespace')}/{metadata.get('name')}"
    if container is None:
        raise SidecarError(f"{where} runs no `consul-k8s-control-plane {CONSUL_SUBCOMMAND}`")
    if consul_setting(deployment).native is native:
        return None
    wanted = "true" if native else "false"
    fields = {
        "command": list(container.get("command") or ()),
        "args": list(container.get("args") or ()),
    }
    uses = _consul_flag_uses(container)
    if uses:
        # Right to left, so that earlier spans in the same script keep their offsets.
        for use in sorted(uses, key=lambda u: (u.field, u.index, u.span or (0, 0)), reverse=True):
            values = fields[use.field]
            if use.span is None:
                values[use.index] = f"{use.dashes}{CONSUL_FLAG}={wanted}"
            else:
                script = values[use.index]
                word = re.compile(_CONSUL_FLAG_WORD).match(script, use.span[0])
                assert word is not None  # the span is where this pattern matched
                quote = word.group(1)
                values[use.index] = (
                    script[: use.span[0]] + f"{quote}{use.dashes}{CONSUL_FLAG}="
                    f"{wanted}{quote}" + script[use.span[1] :]
                )
    else:
        supported = consul_supports_native(consul_k8s_version(deployment))
        if supported is not True:
            version = consul_k8s_version(deployment)
            known = (
                f"consul-k8s {release_text(version)}"
                if version
                else "a consul-k8s of unknown version"
            )
            raise SidecarError(
                f"{where} runs {known} without -{CONSUL_FLAG}; an injector that predates the "
                f"flag won't start with it: upgrade consul-k8s, or set {CONSUL_HELM_VALUE} "
                "with helm"
            )
        _insert_after_subcommand(container, fields, f"-{CONSUL_FLAG}={wanted}")
    patch = {"name": container.get("name")}
    for name, values in fields.items():
        if values != list(container.get(name) or ()):
            patch[name] = values
    return patch


def _insert_after_subcommand(container, fields, flag):
    """Put `flag` right after `inject-connect` in command + args (or in its `sh -c` script)."""
    scripts = {(where, index) for where, index, _ in _shell_scripts(container)}
    for name in ("command", "args"):
        values = fields[name]
        for index, value in enumerate(values):
            if (name, index) in scripts:
                subcommand = re.compile(_SUBCOMMAND_WORD).search(value)
                if subcommand:
                    values[index] = f"{value[: subcommand.end()]} {flag}{value[subcommand.end() :]}"
                    return
            elif value == CONSUL_SUBCOMMAND:
                if name == "command" and index == len(values) - 1:
                    fields["args"].insert(0, flag)
                else:
                    values.insert(index + 1, flag)
                return


# The consul Helm chart's usual release namespace, read when Deployments can't be listed
# cluster-wide.
CONSUL_NAMESPACES = ("consul",)


def read(cluster, mesh_cluster, quiet=False):
    labelled = reading.labelled_deployments(cluster, CONSUL_INJECTOR_SELECTOR, CONSUL_NAMESPACES)
    # The label alone may match another chart's component: the injector is the one that
    # runs `inject-connect`. Without one, --mesh consul still names what it found.
    injectors = [d for d in labelled if consul_injector_container(d) is not None]
    if not injectors and quiet:
        return None
    chosen = (injectors or labelled or [None])[0]
    config = consul_config(chosen, cluster.context)
    if len(injectors) > 1:
        names = ", ".join(reading.deployment_name(d) for d in injectors)
        config.warnings.append(
            f"more than one Consul connect-injector ({names}); "
            f"{reading.deployment_name(chosen)} decides"
        )
    return config


def setting_for(row, config):
    return base.override_or(row, config.mesh_wide)


# --- switching it --------------------------------------------------------------------------


class InjectorChange(ConfigChange):
    """The connect-injector's flag. It reads its flags at start: it rolls out first."""

    rolls_out = True
    field_name = "arg -" + CONSUL_FLAG
    done_name = "-" + CONSUL_FLAG
    helm_value = CONSUL_HELM_VALUE

    def patch(self):
        return injector_patch(
            self.namespace, self.name, self.container_patch, self.resource_version
        )

    def undo(self, current):
        if current is None:
            raise SidecarError(f"{self.kind} {self.namespace}/{self.name} is gone")
        container = consul_injector_patch(current, self.previous == "true")
        if container is None:  # already back
            container = {"name": self.container}
        return injector_patch(self.namespace, self.name, container, base.version_of(current))

    def caveat(self):
        # The chart renders the flag from this value: an upgrade without it undoes ours.
        # Where the injector's owner is known, its own terms say it exactly.
        return super().caveat() or (
            f"set {CONSUL_HELM_VALUE}={self.new} in the Helm release's values "
            "too, or the next `helm upgrade` reverts this"
        )


def injector_patch(namespace, name, container, resource_version=None):
    """Consul's connect-injector container with its command/args rewritten (container is
    consul_injector_patch's entry). Strategic merge matches the container by name and replaces
    command and args whole, so the patch carries the resourceVersion they were read at: if the
    Deployment changed since (a helm upgrade), the API server answers 409 Conflict instead of
    letting stale flags overwrite the new ones."""
    body = {"spec": {"template": {"spec": {"containers": [container]}}}}
    if resource_version:
        body["metadata"] = {"resourceVersion": resource_version}
    return Patch(resources.DEPLOYMENTS, namespace, name, body, STRATEGIC_MERGE_PATCH)


def config_changes(config, target, rows):
    """The connect-injector's flag; none without an injector (the preflight refuses)."""
    if config.payload is None:
        return []
    deployment = config.payload.deployment
    container = consul_injector_patch(deployment, target == base.NATIVE)
    if container is None:
        return []
    namespace, name, container_name = config.payload.injector
    current = config.mesh_wide.native
    if consul_flag_text(deployment) is None:
        old = "unset (false)"
    else:
        old = consul_flag_text(deployment) if current is None else str(current).lower()
    version = (deployment.get("metadata") or {}).get("resourceVersion")
    return [
        InjectorChange(
            NAME,
            "Deployment",
            namespace,
            name,
            old,
            mode_value(target),
            config.context,
            container_name,
            container,
            version,
            metadata=deployment.get("metadata") or {},
        )
    ]


desired_after_switch = base.pinned_or_target


def control_plane_problems(config, target):
    """What stops the connect-injector from injecting `target` once switched:
    [(problem, forceable)]. Not forceable: --force can't help, because there is nothing to
    change or the change itself would stop the injector."""
    deployment = config.payload.deployment if config.payload else None
    if deployment is None or consul_injector_container(deployment) is None:
        return [(f"{config.mesh_wide.source}: nothing to switch", False)]
    if target != base.NATIVE or config.native_supported is True:
        return []
    injector = config.payload.injector
    where = f"{injector[0]}/{injector[1]}"
    version = consul_k8s_version(deployment)
    has_flag = consul_flag_text(deployment) is not None
    if config.native_supported is False:
        problem = (
            f"the connect-injector {where} runs consul-k8s "
            f"{release_text(version)}, which can't inject native sidecars; "
            f"that needs {CONSUL_NATIVE_RELEASES}"
        )
        if has_flag:
            # Rewriting a flag it already starts with is harmless, only useless.
            return [(problem, True)]
        return [
            (
                problem + f", and an injector that old exits when started with "
                f"-{CONSUL_FLAG}: upgrade consul-k8s first",
                False,
            )
        ]
    if has_flag:
        return []  # it starts with the flag today, so it knows the flag
    image = consul_injector_container(deployment).get("image") or "no image"
    return [
        (
            f"the connect-injector {where}'s image ({image}) doesn't tell its consul-k8s "
            f"version, and one older than -{CONSUL_FLAG} (consul-k8s 1.9.0, "
            "backported to 1.6.9, 1.7.5, 1.8.2) exits when started with it: check the "
            f"version, then set {CONSUL_HELM_VALUE}=true with helm",
            False,
        )
    ]


def override_ignored(config, target):
    """Why the injector would ignore a pod-template annotation asking for `target`, or None:
    a consul-k8s that can't inject native ignores its pods' annotation too."""
    if target != base.NATIVE or config.native_supported is not False:
        return None
    injector = config.payload.injector
    version = consul_k8s_version(config.payload.deployment)
    return (
        f"the connect-injector {injector[0]}/{injector[1]} runs consul-k8s "
        f"{release_text(version)}, which can't inject native sidecars and "
        f"ignores the pods' annotation; that needs {CONSUL_NATIVE_RELEASES}"
    )


# --- which pods its injector gives a proxy ---------------------------------------------------
#
# hashicorp/consul-k8s control-plane/connect-inject/webhook/mesh_webhook.go shouldInject (the
# same in v1.0.0 through v2.0.3 and main), once the chart's webhook (namespaceSelector
# connectInject.namespaceSelector, objectSelector app NotIn [consul];
# charts/consul/templates/connect-inject-mutatingwebhookconfiguration.yaml) calls it:
# never in kube-system or kube-public; not in a namespace of -deny-k8s-namespace; only in one of
# -allow-k8s-namespace, or any where it lists "*" (none given: nowhere); not a pod already
# carrying connect-inject-status; the pod's consul.hashicorp.com/connect-inject read with
# strconv.ParseBool (another value fails the admission request: uncertain here), else
# -default-inject (control-plane/subcommand/inject-connect/command.go: default true; the chart
# writes connectInject.default, false). hostNetwork is no exception.
CONSUL_INJECT = "consul.hashicorp.com/connect-inject"
CONSUL_SYSTEM_NAMESPACES = ("kube-system", "kube-public")
_DEFAULT_INJECT, _ALLOW, _DENY = "default-inject", "allow-k8s-namespace", "deny-k8s-namespace"
# inject-connect's boolean flags (control-plane/subcommand/inject-connect/command.go's BoolVar,
# v1.0.0 through v2.0.3 and main): written bare they take no value. A bare flag not listed may
# take the next word as its value: uncertain.
_BOOL_FLAGS = frozenset(
    """default-inject enable-peering enable-federation enable-partitions enable-namespaces
    default-enable-transparent-proxy enable-cni transparent-proxy-default-overwrite-probes
    enable-consul-dns enable-openshift enable-webhook-ca-update enable-auto-encrypt
    enable-telemetry-collector log-json enabe-tcp-route enable-custom-gateway-crd-controller
    default-enable-sidecar-proxy-lifecycle
    default-enable-sidecar-proxy-lifecycle-shutdown-drain-listeners default-enable-metrics
    enable-gateway-metrics enable-gateway-scaling default-enable-metrics-merging
    default-enable-consul-dataplane-as-sidecar enable-resource-apis""".split()
)


class InjectorRules(NamedTuple):
    """The connect-injector's flags that decide which pods it injects."""

    default_inject: bool
    allow: frozenset  # -allow-k8s-namespace values
    deny: frozenset  # -deny-k8s-namespace values
    namespace: str | None  # the injector Deployment's


def _words_after_subcommand(container):
    """The words the injector's flag parser reads (after `inject-connect`), or None where a
    shell would make them something we can't see (an expansion, an unbalanced quote)."""
    scripts = {(where, index) for where, index, _ in _shell_scripts(container)}
    argv = _argv(container)
    for position, (where, index, value) in enumerate(argv):
        if (where, index) in scripts:
            subcommand = re.compile(_SUBCOMMAND_WORD).search(value)
            if subcommand is None:
                continue
            # sh removes a line continuation; the command ends at the first other newline.
            text = value[subcommand.end() :].replace("\\\n", "").split("\n", 1)[0]
            if "$" in text or "`" in text:
                return None
            import shlex  # only here: once per status run, where a Consul pod lacks a proxy

            lexer = shlex.shlex(text, posix=True, punctuation_chars=True)
            lexer.whitespace_split = True
            try:
                words = list(lexer)
            except ValueError:
                return None
            ends = [i for i, word in enumerate(words) if word and set(word) <= set("();<>|&")]
            return words[: ends[0]] if ends else words
        if value == CONSUL_SUBCOMMAND:
            return [word for _, _, word in argv[position + 1 :]]
    return None


def injector_flags(deployment):
    """InjectorRules as the injector's Go flag parser reads its command; None where it can't
    be told (no injector container, a flag it refuses, a bare flag whose kind we don't know)."""
    container = consul_injector_container(deployment)
    words = _words_after_subcommand(container) if container is not None else None
    if words is None:
        return None
    default_inject = True
    lists: dict[str, list[str]] = {_ALLOW: [], _DENY: []}
    position = 0
    while position < len(words):
        word = words[position]
        position += 1
        # Go's flag package: the first non-flag word, or "--", ends the flags.
        if len(word) < 2 or not word.startswith("-") or word == "--":
            break
        name = word[2:] if word.startswith("--") else word[1:]
        name, has_value, value = name.partition("=")
        if not name or name.startswith(("-", "=")):
            return None  # "bad flag syntax": the injector doesn't start
        if name == _DEFAULT_INJECT:
            parsed = parse_bool(value) if has_value else True
            if parsed is None:
                return None
            default_inject = parsed
        elif name in lists:
            if not has_value:
                if position == len(words):
                    return None
                value, position = words[position], position + 1
            lists[name].append(value)
        elif not has_value and name not in _BOOL_FLAGS:
            return None
    namespace = (deployment.get("metadata") or {}).get("namespace")
    return InjectorRules(
        default_inject, frozenset(lists[_ALLOW]), frozenset(lists[_DENY]), namespace
    )


def injector_rules(config, webhook):
    """The InjectorRules of the connect-injector read with the mesh config (its Deployment's
    command: no other read); None where there is none, its flags can't be told, or the webhook
    calls a Service in another namespace than that injector's."""
    payload = config.payload
    if not isinstance(payload, Injector):
        return None
    rules = injector_flags(payload.deployment)
    if rules is None or webhook.service_namespace not in (None, rules.namespace):
        return None
    return rules


def injects(labels, annotations, host_network, namespace_name, namespace, rules):
    """Whether consul-k8s's connect-injector, once called, gives this pod a proxy (None: can't
    tell). rules: the InjectorRules of the injector the webhook calls."""
    if namespace_name in CONSUL_SYSTEM_NAMESPACES or namespace_name in rules.deny:
        return False
    if "*" not in rules.allow and namespace_name not in rules.allow:
        return False
    if annotations.get(CONSUL_INJECT_STATUS, ""):
        return False
    if CONSUL_INJECT in annotations:
        return parse_bool(annotations[CONSUL_INJECT])
    return rules.default_inject
