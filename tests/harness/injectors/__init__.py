"""One module per mesh: how its injector chooses the mode from the live config, and the pod it
makes. Each follows the mesh's own injector source, not kubectl_sidecar."""
