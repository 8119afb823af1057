"""What the injectors share: Go's boolean parsing and the JSON patch an injection becomes."""

import shlex

# A copy of the rule kubectl_sidecar.classify.parse_bool follows, kept here on purpose: the harness
# stands in for the meshes and must not depend on the code under test. The rule is Go's
# strconv.ParseBool, which every injector here (Istio, Linkerd, consul-k8s) uses: exactly these
# spellings, no yes/on, and no surrounding space (the product's copy strips it; Go does not).
_GO_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_GO_FALSE = ("0", "f", "F", "FALSE", "false", "False")


def parse_bool(value):
    """True/False as strconv.ParseBool reads `value`; None where it returns an error."""
    if value in _GO_TRUE:
        return True
    if value in _GO_FALSE:
        return False
    return None


class BadFlag(ValueError):
    """A boolean flag whose value Go's flag package refuses: the process would not start."""


def go_bool_flag(argv, name):
    """The value a Go program's flag package gives the boolean flag `name` from argv, or None when
    the flag is absent. `-name`/`--name` alone mean true, `-name=value` is read with ParseBool,
    the last occurrence wins. (Not modelled: parsing stops at the first non-flag argument, and a
    non-boolean flag may take its value as the next word; charts write every flag as -flag=value.)
    """
    found = None
    for word in argv:
        if not word.startswith("-"):
            continue
        flag, has_value, value = word[2 if word.startswith("--") else 1 :].partition("=")
        if flag != name:
            continue
        if not has_value:
            found = True
            continue
        found = parse_bool(value)
        if found is None:
            raise BadFlag(f'invalid boolean value "{value}" for -{name}')
    return found


def go_list_flag(argv, name):
    """The values a Go flag.Value that appends (consul-k8s's flags.AppendSliceValue) collects for
    `name` from argv: each `-name=value`, or `-name value`, in order."""
    found = []
    for position, word in enumerate(argv):
        if not word.startswith("-"):
            continue
        flag, has_value, value = word[2 if word.startswith("--") else 1 :].partition("=")
        if flag != name:
            continue
        if has_value:
            found.append(value)
        elif position + 1 < len(argv):
            found.append(argv[position + 1])
    return found


def container_argv(container):
    """The words a container's process is started with. A `sh -c SCRIPT` command (how the consul
    chart starts its injector) contributes the words of SCRIPT, line continuations joined."""
    command, args = list(container.get("command") or ()), list(container.get("args") or ())
    if (
        len(command) >= 3
        and command[0].rsplit("/", 1)[-1] in ("sh", "bash")
        and command[1].startswith("-")
        and "c" in command[1]
    ):
        return shlex.split(command[2].replace("\\\n", " ")) + args
    return command + args


INJECTED_FIELDS = (
    ("/metadata/annotations", "metadata", "annotations"),
    ("/metadata/labels", "metadata", "labels"),
    ("/spec/initContainers", "spec", "initContainers"),
    ("/spec/containers", "spec", "containers"),
    ("/spec/volumes", "spec", "volumes"),
    ("/spec/serviceAccountName", "spec", "serviceAccountName"),
)


def injection_patch(original, injected):
    """JSON Patch replacing the few top-level fields injection changes ("add" replaces if present)."""
    patch = []
    for path, part, key in INJECTED_FIELDS:
        before, after = original[part].get(key), injected[part].get(key)
        if before != after:
            patch.append({"op": "add", "path": path, "value": after})
    return patch


def annotations(pod):
    return (pod.get("metadata") or {}).get("annotations") or {}


def container_names(pod):
    spec = pod["spec"]
    return {c["name"] for c in (spec.get("containers") or []) + (spec.get("initContainers") or [])}


class Refused(Exception):
    """The injector answers the admission request with an error: the pod is not created."""
