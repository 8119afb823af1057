"""What mode each mesh would inject now, from its configuration objects: pure functions.

Fetching the objects is cluster.py's job; this module only reads plain dicts.
"""

import re
from dataclasses import dataclass, field

from kubectl_sidecar.classify import NATIVE, OVERRIDE_ANNOTATIONS, TRADITIONAL, parse_bool
from kubectl_sidecar.errors import SidecarError

ASM_GROUP, ASM_VERSION, ASM_PLURAL, ASM_NAME = (
    "istio.alibabacloud.com",
    "v1beta1",
    "asmmeshconfigs",
    "default",
)
ISTIO_ENV = "ENABLE_NATIVE_SIDECARS"
NATIVE_GA_KUBELET = (1, 33)  # Istio's "auto" wants every kubelet at least here
MESH_FAMILIES = {"asm": "istio", "istio": "istio", "linkerd": "linkerd", "consul": "consul"}


@dataclass(frozen=True, slots=True)
class Setting:
    """A configured choice: native (True), traditional (False) or unknown (None), and why."""

    native: bool
    source: str

    @property
    def mode(self):
        if self.native is None:
            return None
        return NATIVE if self.native else TRADITIONAL


@dataclass
class MeshConfig:
    """The mesh whose config we read, and the settings that decide each pod's mode."""

    name: str  # asm | istio | linkerd | consul | none
    mesh_wide: Setting = None  # ASM, Linkerd, Consul: one setting for all pods
    revisions: dict = field(default_factory=dict)  # Istio: revision -> Setting
    istiods: dict = field(
        default_factory=dict
    )  # Istio: revision -> (namespace, name, container, env value)
    namespaces: dict = field(default_factory=dict)  # Linkerd: namespace -> Setting
    # Linkerd: namespace -> {key: value} of the mode annotations it copies onto its pods
    namespace_annotations: dict = field(default_factory=dict)
    context: str = None  # the kubeconfig context the config was read from
    warnings: list = field(default_factory=list)
    injector: tuple = None  # Consul: (namespace, name, container) of the connect-injector
    # Consul: the connect-injector Deployment as read. Its flag lives inside a command or
    # script that a switch must rewrite whole, so the patch is built from this very object.
    injector_deployment: dict = None
    # False when the running control plane can't inject native at all: then it ignores the
    # pods' override annotations too.
    native_supported: bool = None

    @property
    def family(self):
        return MESH_FAMILIES.get(self.name)

    def describe(self):
        """One phrase for the summary line: the mesh, its configured mode and where it came from."""
        if self.name == "none":
            return self.mesh_wide.source if self.mesh_wide else "no mesh configuration found"
        if self.mesh_wide is not None:
            mode = self.mesh_wide.mode or "unknown"
            return f"{self.name}: {mode} ({self.mesh_wide.source})"
        parts = [
            f"{rev}={setting.mode or 'unknown'} ({setting.source})"
            for rev, setting in sorted(self.revisions.items())
        ]
        return f"{self.name}: " + ("; ".join(parts) if parts else "no istiod found")


def no_mesh(reason):
    return MeshConfig(name="none", mesh_wide=Setting(None, reason))


def version_tuple(text):
    """(major, minor) from strings like 'v1.33.2-eks-1', '1.27.1', 'istiod-1.24.0'; None if absent."""
    match = re.search(r"(\d+)\.(\d+)", text or "")
    return (int(match.group(1)), int(match.group(2))) if match else None


# --- Alibaba Cloud ASM -------------------------------------------------------------------


def asm_config(mesh_config_object, context):
    """MeshConfig from ASMMeshConfig/default (None if it doesn't exist)."""
    where = f"ASMMeshConfig/default on context {context}" if context else "ASMMeshConfig/default"
    if mesh_config_object is None:
        return MeshConfig(
            name="asm",
            context=context,
            mesh_wide=Setting(None, f"{where} not found (is this the ASM instance's API server?)"),
        )
    value = (mesh_config_object.get("spec") or {}).get("enableNativeSidecar")
    if isinstance(value, bool):
        setting = Setting(value, f"{where} spec.enableNativeSidecar={str(value).lower()}")
    else:
        setting = Setting(
            None,
            f"{where} does not set spec.enableNativeSidecar; ASM's default depends on its version",
        )
    return MeshConfig(name="asm", context=context, mesh_wide=setting)


# --- open-source Istio -------------------------------------------------------------------


def istiod_revision(deployment):
    labels = (deployment.get("metadata") or {}).get("labels") or {}
    return labels.get("istio.io/rev") or "default"


def istiod_version(deployment):
    """Istio (major, minor) of an istiod Deployment, from its labels or its image tag."""
    metadata = deployment.get("metadata") or {}
    labels = metadata.get("labels") or {}
    for key in ("operator.istio.io/version", "app.kubernetes.io/version", "helm.sh/chart"):
        found = version_tuple(labels.get(key))
        if found:
            return found
    for container in _containers(deployment):
        image = container.get("image") or ""
        if ":" in image.rsplit("/", 1)[-1]:
            found = version_tuple(image.rsplit(":", 1)[-1])
            if found:
                return found
    return None


def _containers(deployment):
    template = ((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}
    return template.get("containers") or ()


def istiod_env_value(deployment):
    """(present, value) of ENABLE_NATIVE_SIDECARS on istiod's discovery container."""
    for container in _containers(deployment):
        for env in container.get("env") or ():
            if env.get("name") == ISTIO_ENV:
                if "value" not in env and "valueFrom" in env:
                    return True, None
                return True, env.get("value", "")
    return False, None


def istiod_needs_kubelets(deployments):
    """Whether deciding any istiod's mode needs the nodes' kubelet versions ("auto")."""
    for deployment in deployments:
        present, value = istiod_env_value(deployment)
        if present and (value or "").strip().lower() == "auto":
            return True
        version = istiod_version(deployment)
        if not present and version and version >= (1, 27):
            return True
    return False


def istiod_setting(deployment, kubelet_versions):
    """Setting of one istiod. kubelet_versions: {node: version string}, or None if unreadable."""
    metadata = deployment.get("metadata") or {}
    where = f"{metadata.get('namespace')}/{metadata.get('name')}"
    present, value = istiod_env_value(deployment)
    version = istiod_version(deployment)
    if present and value is None:
        return Setting(None, f"{where} sets {ISTIO_ENV} from a reference we don't resolve")
    if present:
        text = value.strip()
        if text.lower() == "auto":
            return _auto_setting(where, f"{ISTIO_ENV}=auto", kubelet_versions)
        parsed = parse_bool(text)
        if parsed is None:
            return Setting(None, f"{where} has {ISTIO_ENV}={value!r}, not true/false/auto")
        return Setting(parsed, f"{where} {ISTIO_ENV}={text}")
    if version is None:
        return Setting(None, f"{where} has no {ISTIO_ENV} and its Istio version is unknown")
    release = f"{version[0]}.{version[1]}"
    if version >= (1, 27):
        return _auto_setting(
            where, f"{ISTIO_ENV} unset, Istio {release} default auto", kubelet_versions
        )
    return Setting(False, f"{where} {ISTIO_ENV} unset, Istio {release} default false")


def _auto_setting(where, what, kubelet_versions):
    if kubelet_versions is None:
        return Setting(None, f"{where} {what}, but node kubelet versions can't be read")
    if not kubelet_versions:
        return Setting(None, f"{where} {what}, but the cluster has no nodes")
    old = sorted(
        node
        for node, version in kubelet_versions.items()
        if (version_tuple(version) or (0, 0)) < NATIVE_GA_KUBELET
    )
    if old:
        return Setting(False, f"{where} {what}: {len(old)} node(s) with kubelet < 1.33")
    return Setting(True, f"{where} {what}: every kubelet >= 1.33")


def istio_config(deployments, kubelet_versions, context=None):
    """MeshConfig from the istiod Deployments (one per revision)."""
    revisions, istiods = {}, {}
    for deployment in deployments:
        revision = istiod_revision(deployment)
        revisions[revision] = istiod_setting(deployment, kubelet_versions)
        metadata = deployment.get("metadata") or {}
        containers = _containers(deployment)
        container = next(
            (c.get("name") for c in containers if c.get("name") == "discovery"),
            containers[0].get("name") if containers else "discovery",
        )
        istiods[revision] = (
            metadata.get("namespace"),
            metadata.get("name"),
            container,
            istiod_env_value(deployment)[1],
        )
    config = MeshConfig(name="istio", revisions=revisions, istiods=istiods, context=context)
    if revisions:
        config.warnings.append(
            "istiod's env may be managed by an IstioOperator or Helm release; "
            "a hand edit can be reverted"
        )
    return config


# --- Linkerd -----------------------------------------------------------------------------

# Linkerd's mode keys in the order it reads them: config.linkerd.io, config.beta, config.alpha.
LINKERD_KEYS = OVERRIDE_ANNOTATIONS["linkerd"]
# The ones it copies from a namespace (pkg/inject ProxyAnnotations + ProxyAlphaConfigAnnotations):
# the deprecated beta key is on neither list, so on a namespace it does nothing.
LINKERD_NAMESPACE_KEYS = (LINKERD_KEYS[0], LINKERD_KEYS[2])
# Meshes whose injector copies the namespace's mode annotation onto every pod it injects
# (Linkerd's AppendNamespaceAnnotations): on their pods that copy is not the workload's own.
COPIES_NAMESPACE_MODE = frozenset({"linkerd"})


def linkerd_config(config_map, namespaces, context=None):
    """MeshConfig from linkerd-config's values (proxy.nativeSidecar) and namespace annotations."""
    mesh_wide = Setting(None, "linkerd/linkerd-config not found")
    if config_map is not None:
        values_text = (config_map.get("data") or {}).get("values") or ""
        native = _linkerd_native_value(values_text)
        if native is None:
            mesh_wide = Setting(False, "linkerd-config proxy.nativeSidecar unset (default false)")
        else:
            mesh_wide = Setting(native, f"linkerd-config proxy.nativeSidecar={str(native).lower()}")
    by_namespace, inherited_by_namespace = {}, {}
    for namespace in namespaces or ():
        metadata = namespace.get("metadata") or {}
        annotations = metadata.get("annotations") or {}
        inherited = {key: annotations[key] for key in LINKERD_NAMESPACE_KEYS if key in annotations}
        if inherited:
            by_namespace[metadata.get("name")] = linkerd_setting({}, inherited, mesh_wide)
            inherited_by_namespace[metadata.get("name")] = inherited
    return MeshConfig(
        name="linkerd",
        mesh_wide=mesh_wide,
        namespaces=by_namespace,
        namespace_annotations=inherited_by_namespace,
        context=context,
    )


def linkerd_setting(own, namespace_annotations, default):
    """What Linkerd injects into a pod whose own mode annotations are `own` ({key: value}) in a
    namespace with `namespace_annotations`, when linkerd-config says `default` (a Setting).

    As pkg/inject does it: AppendNamespaceAnnotations copies the namespace's stable and alpha
    keys onto the pod where the pod lacks that key; ApplyAnnotationOverrides then takes the
    first present of stable, beta, alpha. A value ParseBool refuses leaves linkerd-config's
    value, and still hides the keys after it.
    """
    for key in LINKERD_KEYS:
        if key in own:
            value, where = own[key], f"pod annotation {key}"
        elif key in LINKERD_NAMESPACE_KEYS and key in namespace_annotations:
            value, where = namespace_annotations[key], f"namespace annotation {key}"
        else:
            continue
        native = parse_bool(value)
        if native is None:
            return Setting(
                default.native, f"{where}={value!r} is not a Go bool, so {default.source}"
            )
        return Setting(native, where)
    return default


def _linkerd_native_value(values_text):
    import yaml

    try:
        values = yaml.safe_load(values_text) or {}
    except yaml.YAMLError:
        return None
    proxy = values.get("proxy") if isinstance(values, dict) else None
    value = proxy.get("nativeSidecar") if isinstance(proxy, dict) else None
    return value if isinstance(value, bool) else None


# --- Consul (consul-k8s) -----------------------------------------------------------------
# The connect-injector decides per pod: the pod's annotation
# consul.hashicorp.com/enable-consul-dataplane-as-sidecar if set, else its own flag
# -default-enable-consul-dataplane-as-sidecar (Helm:
# connectInject.dataplaneAsSidecarInitContainer.defaultEnabled), false when absent.

CONSUL_FLAG = "default-enable-consul-dataplane-as-sidecar"
CONSUL_SUBCOMMAND = "inject-connect"  # `consul-k8s-control-plane inject-connect -flags...`
# The Helm chart labels the injector Deployment (<release>-consul-connect-injector) so.
CONSUL_INJECTOR_SELECTOR = "component=connect-injector"
# consul-k8s PR #4678 shipped in 1.9.0 and was backported to these patch releases; older
# injectors don't know the flag (an injector given it exits: "flag provided but not defined").
CONSUL_NATIVE_BACKPORTS = {(1, 6): 9, (1, 7): 5, (1, 8): 2}
CONSUL_NATIVE_SINCE = (1, 9)
CONSUL_NATIVE_RELEASES = "consul-k8s 1.9.0 or later, or 1.6.9, 1.7.5, 1.8.2"
CONSUL_HELM_VALUE = "connectInject.dataplaneAsSidecarInitContainer.defaultEnabled"

_SHELLS = frozenset({"sh", "bash", "ash", "dash", "zsh"})
# In a shell script the flag is a word of its own, perhaps quoted, perhaps with =value.
_CONSUL_FLAG_WORD = re.compile(
    r"(?<!\S)(['\"]?)(--?)" + re.escape(CONSUL_FLAG) + r"(?:=(['\"]?)([^\s'\"]*)\3)?\1(?!\S)"
)
_SUBCOMMAND_WORD = re.compile(r"(?<!\S)" + re.escape(CONSUL_SUBCOMMAND) + r"(?!\S)")
_END_OF_FLAGS_WORD = re.compile(r"(?<!\S)--(?!\S)")
_NEXT_WORD = re.compile(r"(?:\s|\\\n)*([^\s\\]\S*)")
_IMAGE_TAG_VERSION = re.compile(r"v?(\d+)\.(\d+)(?:\.(\d+))?")


@dataclass(frozen=True, slots=True)
class _FlagUse:
    """One occurrence of the flag: in `field` ("command" or "args") element `index`, either
    the whole element (span None) or, in a shell script, the characters span[0]:span[1]."""

    field: str
    index: int
    span: tuple
    dashes: str
    value: str  # None for the bare flag, which Go reads as true
    next_word: str  # what follows it, to tell `-flag false` apart

    @property
    def text(self):
        return f"{self.dashes}{CONSUL_FLAG}" + ("" if self.value is None else f"={self.value}")


def consul_injector_container(deployment):
    """The container of a Deployment that runs consul-k8s's `inject-connect`, or None."""
    for container in _containers(deployment):
        argv = list(container.get("command") or ()) + list(container.get("args") or ())
        if CONSUL_SUBCOMMAND in argv or any(
            _SUBCOMMAND_WORD.search(script) for _, _, script in _shell_scripts(container)
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
    match = _IMAGE_TAG_VERSION.match(tail.rsplit(":", 1)[-1])
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
    subcommand = _SUBCOMMAND_WORD.search(script)
    if not subcommand:
        return []
    end = _END_OF_FLAGS_WORD.search(script, subcommand.end())
    stop = end.start() if end else len(script)
    uses = []
    for match in _CONSUL_FLAG_WORD.finditer(script, subcommand.end(), stop):
        following = _NEXT_WORD.match(script, match.end())
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


def consul_config(deployment, context=None):
    """MeshConfig from consul-k8s's connect-injector Deployment (None if there is none)."""
    if deployment is None:
        return MeshConfig(
            name="consul",
            context=context,
            mesh_wide=Setting(
                None,
                f"no consul-k8s connect-injector Deployment ({CONSUL_INJECTOR_SELECTOR}) found",
            ),
        )
    metadata = deployment.get("metadata") or {}
    container = consul_injector_container(deployment)
    config = MeshConfig(
        name="consul",
        context=context,
        mesh_wide=consul_setting(deployment),
        injector=(
            metadata.get("namespace"),
            metadata.get("name"),
            container.get("name") if container else None,
        ),
        injector_deployment=deployment,
        native_supported=consul_supports_native(consul_k8s_version(deployment)),
    )
    # The Helm caveat belongs to a switch (plan.ConfigChange says it), not to every status.
    return config


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
                quote = _CONSUL_FLAG_WORD.match(script, use.span[0]).group(1)
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
                subcommand = _SUBCOMMAND_WORD.search(value)
                if subcommand:
                    values[index] = f"{value[: subcommand.end()]} {flag}{value[subcommand.end() :]}"
                    return
            elif value == CONSUL_SUBCOMMAND:
                if name == "command" and index == len(values) - 1:
                    fields["args"].insert(0, flag)
                else:
                    values.insert(index + 1, flag)
                return


# --- per pod -----------------------------------------------------------------------------


def desired_setting(row, mesh):
    """The Setting that decides what the mesh would inject into this pod now."""
    if row.proxy is None:
        return Setting(None, "no mesh proxy")
    if mesh.native_supported is False and mesh.family == row.family:
        return mesh.mesh_wide  # a control plane without native mode ignores the annotation
    if mesh.name == "linkerd" and row.family == "linkerd":
        # row.mode_annotations are the workload's own (status.Assessor puts the pod template's
        # in place of a pod's copies of its namespace's); the namespace's as it is now.
        return linkerd_setting(
            dict(row.mode_annotations or ()),
            mesh.namespace_annotations.get(row.namespace) or {},
            mesh.mesh_wide,
        )
    if row.override is not None:
        return Setting(row.override, f"pod annotation {row.override_annotation}")
    if mesh.family != row.family:
        return Setting(None, f"no {row.family} mesh configuration read")
    if mesh.mesh_wide is not None:
        return mesh.mesh_wide
    revision = row.revision or "default"
    if revision in mesh.revisions:
        return mesh.revisions[revision]
    return Setting(None, f"no istiod found for revision {revision}")
