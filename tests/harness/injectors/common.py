"""What the injectors share: Go's boolean parsing and the JSON patch an injection becomes."""

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


INJECTED_FIELDS = (("/metadata/annotations", "metadata", "annotations"),
                   ("/metadata/labels", "metadata", "labels"),
                   ("/spec/initContainers", "spec", "initContainers"),
                   ("/spec/containers", "spec", "containers"),
                   ("/spec/volumes", "spec", "volumes"),
                   ("/spec/serviceAccountName", "spec", "serviceAccountName"))


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
