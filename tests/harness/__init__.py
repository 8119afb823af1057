"""A real local Kubernetes control plane for the e2e tests, the demo and the benchmark."""
