module kubectl-sidecar.local/istio-injector

go 1.26.0
