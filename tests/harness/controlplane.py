"""Start and stop a real local control plane: etcd, kube-apiserver, kube-controller-manager, plus
the two stand-ins a cluster without machines needs: a kubelet simulator (fake nodes whose pods
become Running and Ready) and the mesh injector webhook.

Everything listens on 127.0.0.1 with generated certificates and static tokens. Every process is
started in its own session and recorded in <workdir>/state.json, so `down` (or the next `up` in the
same directory) can always kill what a crashed run left behind.

    python -m tests.harness.controlplane up [--workdir DIR]   # prints export lines
    python -m tests.harness.controlplane down [--workdir DIR]
"""
import argparse
import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.harness import build
from tests.harness.api import Api, ApiFailure, resource_path

REPO = Path(__file__).resolve().parents[2]
ADMIN_TOKEN = "admin-token-kubectl-sidecar"
VIEWER_TOKEN = "viewer-token-kubectl-sidecar"
DEFAULT_NODES = {"node-1": "v1.36.3", "node-2": "v1.36.3", "node-3": "v1.35.1"}
# kube-controller-manager without the controllers that need real machines: node lifecycle would
# taint and evict our heartbeat-less fake nodes, IPAM needs a pod CIDR.
CONTROLLERS = "*,-node-lifecycle-controller,-node-ipam-controller,-service-lb-controller,-node-route-controller,-cloud-node-lifecycle-controller"
READY_TIMEOUT = 120  # seconds; 2-core machines need far more than envtest's 20 s


def default_workdir() -> Path:
    return build.cache_root() / "control-plane"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run(args, cwd):
    subprocess.run(args, cwd=cwd, check=True, capture_output=True)


def make_certificates(directory: Path) -> None:
    """A CA, one serving certificate for 127.0.0.1 (API server and webhook), a service-account key."""
    directory.mkdir(parents=True, exist_ok=True)
    _run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key",
          "-out", "ca.crt", "-days", "3650", "-subj", "/CN=kubectl-sidecar-test-ca"], directory)
    _run(["openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", "serving.key",
          "-out", "serving.csr", "-subj", "/CN=127.0.0.1"], directory)
    # Go verifies only the SAN, never the CN.
    (directory / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _run(["openssl", "x509", "-req", "-in", "serving.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
          "-CAcreateserial", "-out", "serving.crt", "-days", "3650", "-extfile", "san.ext"], directory)
    _run(["openssl", "genrsa", "-out", "sa.key", "2048"], directory)
    _run(["openssl", "rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub"], directory)


def kubeconfig_text(server, ca_file, namespace="default"):
    users = {"admin": ADMIN_TOKEN, "viewer": VIEWER_TOKEN}
    return json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "admin",
        "clusters": [{"name": "local", "cluster": {"server": server, "certificate-authority": str(ca_file)}}],
        "users": [{"name": name, "user": {"token": token}} for name, token in users.items()],
        "contexts": [{"name": name, "context": {"cluster": "local", "user": name, "namespace": namespace}}
                     for name in users],
    }, indent=2)


AUDIT_POLICY = """apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: Metadata
"""


class ControlPlane:
    """One control plane in one working directory."""

    def __init__(self, workdir=None, controllers=True, kubelet=True, injector=True, nodes=None,
                 audit=True, mesh_instance=None):
        self.workdir = Path(workdir or default_workdir()).resolve()
        self.controllers, self.kubelet, self.injector, self.audit = controllers, kubelet, injector, audit
        # Another ControlPlane playing the ASM instance: the injector reads ASMMeshConfig there.
        self.mesh_instance = mesh_instance
        self.nodes = DEFAULT_NODES if nodes is None else nodes
        self.certs = self.workdir / "certs"
        self.logs = self.workdir / "logs"
        self.kubeconfig = self.workdir / "kubeconfig"
        self.audit_log = self.workdir / "audit.log"
        self.state_file = self.workdir / "state.json"
        self.state = {}

    # --- life cycle -----------------------------------------------------------------------

    def up(self, log=lambda line: print(line, file=sys.stderr, flush=True)):
        self.down()
        started = time.monotonic()
        binaries = build.build(log)
        self.workdir.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.workdir / "etcd", ignore_errors=True)
        shutil.rmtree(self.logs, ignore_errors=True)
        self.audit_log.unlink(missing_ok=True)
        self.logs.mkdir()
        if not (self.certs / "serving.crt").exists():
            make_certificates(self.certs)
        ports = {name: free_port() for name in ("etcd", "peer", "apiserver", "webhook")}
        server = f"https://127.0.0.1:{ports['apiserver']}"
        self.state = {"server": server, "ports": ports, "pids": {},
                      "kubectl": str(binaries["kubectl"])}
        self._save()
        try:
            self._start_etcd(binaries["etcd"], ports)
            self._start_apiserver(binaries["kube-apiserver"], ports, server)
            self.kubeconfig.write_text(kubeconfig_text(server, self.certs / "ca.crt"))
            self._wait_ready()
            self._bootstrap()
            if self.controllers:
                self._start("kube-controller-manager", [
                    str(binaries["kube-controller-manager"]), f"--kubeconfig={self._component_kubeconfig()}",
                    "--leader-elect=false", "--secure-port=0", f"--controllers={CONTROLLERS}",
                    f"--service-account-private-key-file={self.certs / 'sa.key'}",
                    f"--root-ca-file={self.certs / 'ca.crt'}", "--concurrent-deployment-syncs=10",
                    "--concurrent-replicaset-syncs=10", "--v=1"])
            harness_args = ["--server", server, "--token", ADMIN_TOKEN, "--ca", str(self.certs / "ca.crt")]
            if self.kubelet:
                self._start("kubelet-sim", [sys.executable, "-m", "tests.harness.kubelet_sim", *harness_args])
            if self.injector:
                mesh_args = []
                if self.mesh_instance is not None:
                    mesh_args = ["--mesh-server", self.mesh_instance.state["server"],
                                 "--mesh-token", ADMIN_TOKEN,
                                 "--mesh-ca", str(self.mesh_instance.certs / "ca.crt")]
                self._start("injector", [
                    sys.executable, "-m", "tests.harness.injector", *harness_args, *mesh_args,
                    "--port", str(ports["webhook"]), "--cert", str(self.certs / "serving.crt"),
                    "--key", str(self.certs / "serving.key")])
                self._register_injector(ports["webhook"])
        except BaseException:
            self.down()
            raise
        log(f"control plane up in {time.monotonic() - started:.1f}s at {server}")
        return self

    def down(self):
        """Stop every process this working directory recorded; safe to call twice."""
        if not self.state and self.state_file.exists():
            self.state = json.loads(self.state_file.read_text())
        pids = (self.state or {}).get("pids", {})
        for pid in pids.values():
            _signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for pid in pids.values():
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            _signal_group(pid, signal.SIGKILL)
        if self.state_file.exists():
            self.state_file.unlink()
        self.state = {}

    def _start(self, name, argv):
        with open(self.logs / f"{name}.log", "ab") as out:
            process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       cwd=REPO, start_new_session=True)
        self.state["pids"][name] = process.pid
        self._save()
        time.sleep(0.2)
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited at once: {self._tail(name)}")

    def _save(self):
        self.state_file.write_text(json.dumps(self.state, indent=2))

    def _tail(self, name, lines=15):
        path = self.logs / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    # --- components -----------------------------------------------------------------------

    def _start_etcd(self, etcd, ports):
        client, peer = f"http://127.0.0.1:{ports['etcd']}", f"http://127.0.0.1:{ports['peer']}"
        self._start("etcd", [
            str(etcd), f"--data-dir={self.workdir / 'etcd'}", f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}", f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}", f"--initial-cluster=default={peer}",
            "--unsafe-no-fsync", "--quota-backend-bytes=8589934592", "--log-level=warn"])

    def _start_apiserver(self, apiserver, ports, server):
        (self.workdir / "tokens.csv").write_text(
            f'{ADMIN_TOKEN},admin,admin-uid,"system:masters"\n{VIEWER_TOKEN},viewer,viewer-uid\n')
        (self.workdir / "audit-policy.yaml").write_text(AUDIT_POLICY)
        argv = [
            str(apiserver), f"--etcd-servers=http://127.0.0.1:{ports['etcd']}",
            "--bind-address=127.0.0.1", f"--secure-port={ports['apiserver']}",
            "--advertise-address=127.0.0.1", "--endpoint-reconciler-type=none",
            f"--cert-dir={self.certs}", f"--tls-cert-file={self.certs / 'serving.crt'}",
            f"--tls-private-key-file={self.certs / 'serving.key'}", f"--client-ca-file={self.certs / 'ca.crt'}",
            "--service-cluster-ip-range=10.0.0.0/24", "--authorization-mode=RBAC",
            "--allow-privileged=true", f"--service-account-issuer={server}",
            f"--service-account-key-file={self.certs / 'sa.pub'}",
            f"--service-account-signing-key-file={self.certs / 'sa.key'}",
            f"--token-auth-file={self.workdir / 'tokens.csv'}",
            # No token controller to race with: pods need no service-account token here.
            "--disable-admission-plugins=ServiceAccount",
        ]
        if self.audit:
            argv += [f"--audit-policy-file={self.workdir / 'audit-policy.yaml'}",
                     f"--audit-log-path={self.audit_log}", "--audit-log-maxsize=0"]
        self._start("kube-apiserver", argv)

    def _component_kubeconfig(self):
        path = self.workdir / "admin.kubeconfig"
        path.write_text(kubeconfig_text(self.state["server"], self.certs / "ca.crt"))
        return path

    def _wait_ready(self):
        admin = self.api()
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            for name in ("etcd", "kube-apiserver"):
                if not _alive(self.state["pids"][name]):
                    raise RuntimeError(f"{name} died while starting:\n{self._tail(name)}")
            try:
                admin.request("GET", "/readyz", timeout=5)
                return
            except Exception as error:  # noqa: BLE001 - any failure means "not yet"
                if time.monotonic() > deadline:
                    raise RuntimeError(f"kube-apiserver not ready after {READY_TIMEOUT}s ({error}):\n"
                                       f"{self._tail('kube-apiserver')}") from None
                time.sleep(0.5)

    # --- objects every run needs --------------------------------------------------------------

    def api(self, token=ADMIN_TOKEN):
        return Api(self.state["server"], token, str(self.certs / "ca.crt"), pool_size=32)

    def _bootstrap(self):
        admin = self.api()
        admin.apply(resource_path("apiextensions.k8s.io/v1", "customresourcedefinitions"), ASM_CRD)
        admin.apply(resource_path("rbac.authorization.k8s.io/v1", "clusterroles"), VIEWER_ROLE)
        admin.apply(resource_path("rbac.authorization.k8s.io/v1", "clusterrolebindings"), VIEWER_BINDING)
        for name, version in self.nodes.items():
            add_node(admin, name, version)
        admin.wait_for("the ASMMeshConfig CRD to be established", lambda: any(
            c["type"] == "Established" and c["status"] == "True"
            for c in (admin.get(resource_path("apiextensions.k8s.io/v1", "customresourcedefinitions",
                                              name=ASM_CRD["metadata"]["name"]))
                      .get("status", {}).get("conditions", []))))

    def _register_injector(self, port):
        admin = self.api()
        admin.apply(resource_path("admissionregistration.k8s.io/v1", "mutatingwebhookconfigurations"),
                    injector_webhook(port, (self.certs / "ca.crt").read_bytes()))
        wait_for_injection(admin)

    # --- for tests, the demo and the benchmark ------------------------------------------------

    def env(self):
        """Environment for running `kubectl sidecar` against this control plane."""
        kubectl_dir = str(Path(self.state["kubectl"]).parent)
        # bin/kubectl-sidecar runs `python3` from PATH: the one this harness runs in has the deps.
        python_dir = str(Path(sys.executable).parent)
        path = os.pathsep.join([kubectl_dir, str(REPO / "bin"), python_dir, os.environ.get("PATH", "")])
        no_proxy = ",".join(filter(None, [os.environ.get("NO_PROXY"), "127.0.0.1,localhost"]))
        return dict(os.environ, KUBECONFIG=str(self.kubeconfig), PATH=path, NO_PROXY=no_proxy,
                    no_proxy=no_proxy)

    def named_kubeconfig(self, name):
        """A kubeconfig whose cluster, user and context are all called `name` (admin rights), so
        it can sit beside another control plane's in one KUBECONFIG list."""
        path = self.workdir / f"{name}.kubeconfig"
        path.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": name,
            "clusters": [{"name": name, "cluster": {"server": self.state["server"],
                                                    "certificate-authority": str(self.certs / "ca.crt")}}],
            "users": [{"name": name, "user": {"token": ADMIN_TOKEN}}],
            "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        }, indent=2))
        return path

    def register_stripper(self):
        """The optional second webhook: drops restartPolicy from the init containers of pods
        labelled legacy-policy=enforced, as a webhook built against old client libraries does.
        Returns once the API server calls it."""
        admin = self.api()
        admin.apply(resource_path("admissionregistration.k8s.io/v1", "mutatingwebhookconfigurations"),
                    stripper_webhook(self.state["ports"]["webhook"], (self.certs / "ca.crt").read_bytes()))
        admin.wait_for("the stripping webhook to take effect", lambda: not _native_probe_admitted(admin),
                       timeout=60, interval=0.5)

    def unregister_stripper(self):
        admin = self.api()
        admin.delete(resource_path("admissionregistration.k8s.io/v1", "mutatingwebhookconfigurations",
                                   name=STRIPPER_NAME))
        admin.wait_for("the stripping webhook to be gone", lambda: _native_probe_admitted(admin),
                       timeout=60, interval=0.5)


def _native_probe_admitted(admin):
    """Whether a labelled pod with a probed native sidecar gets through admission (dry run)."""
    probe = {"apiVersion": "v1", "kind": "Pod",
             "metadata": {"name": "strip-probe", "labels": {STRIPPER_LABEL: "enforced"}},
             "spec": {"initContainers": [{"name": "proxy", "image": "registry.example/proxy:1",
                                          "restartPolicy": "Always",
                                          "readinessProbe": {"tcpSocket": {"port": 15021}}}],
                      "containers": [{"name": "app", "image": "registry.example/app:1.0"}]}}
    try:
        admin.request("POST", resource_path("v1", "pods", "default"), probe, params={"dryRun": "All"})
        return True
    except ApiFailure:
        return False


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child of ours is not alive
        waited, _ = os.waitpid(pid, os.WNOHANG)
        return waited == 0
    except ChildProcessError:
        return True


def _signal_group(pid, sig):
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def add_node(admin, name, kubelet_version):
    nodes = resource_path("v1", "nodes")
    admin.apply(nodes, {"apiVersion": "v1", "kind": "Node",
                        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name,
                                                              "kubernetes.io/os": "linux"}}})
    # TaintNodesByCondition taints every new node not-ready; the node lifecycle controller that
    # would lift it once the kubelet reports Ready is off here, so lift it ourselves.
    admin.patch(f"{nodes}/{name}", {"spec": {"taints": None}})
    admin.patch(f"{nodes}/{name}/status", {"status": {
        "nodeInfo": {"kubeletVersion": kubelet_version, "kubeProxyVersion": kubelet_version,
                     "operatingSystem": "linux", "architecture": "amd64",
                     "containerRuntimeVersion": "containerd://2.1.0", "kernelVersion": "6.1.0",
                     "osImage": "simulated", "machineID": name, "systemUUID": name, "bootID": name},
        "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                        "message": "simulated kubelet", "lastHeartbeatTime": _now(),
                        "lastTransitionTime": _now()}],
        "capacity": {"cpu": "64", "memory": "256Gi", "pods": "10000"},
        "allocatable": {"cpu": "64", "memory": "256Gi", "pods": "10000"},
        "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}, {"type": "Hostname", "address": name}],
    }})


def _now():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


ASM_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "asmmeshconfigs.istio.alibabacloud.com"},
    "spec": {
        "group": "istio.alibabacloud.com", "scope": "Cluster",
        "names": {"plural": "asmmeshconfigs", "singular": "asmmeshconfig", "kind": "ASMMeshConfig",
                  "listKind": "ASMMeshConfigList"},
        "versions": [{"name": "v1beta1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
            "type": "object", "properties": {"spec": {"type": "object",
                                                      "x-kubernetes-preserve-unknown-fields": True}}}}}],
    },
}

# The read-only user for RBAC tests: may read everything the plugin reads, change nothing.
VIEWER_ROLE = {
    "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
    "metadata": {"name": "sidecar-viewer"},
    "rules": [{"apiGroups": ["", "apps", "batch", "argoproj.io", "istio.alibabacloud.com",
                             "admissionregistration.k8s.io"],
               "resources": ["*"], "verbs": ["get", "list", "watch"]}],
}
VIEWER_BINDING = {
    "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
    "metadata": {"name": "sidecar-viewer"},
    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "sidecar-viewer"},
    "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "viewer"}],
}


def _webhook(name, url, ca_pem, namespace_selector, object_selector=None):
    hook = {
        "name": name, "admissionReviewVersions": ["v1"], "sideEffects": "None", "timeoutSeconds": 10,
        "failurePolicy": "Fail", "reinvocationPolicy": "Never",
        "clientConfig": {"url": url, "caBundle": base64.b64encode(ca_pem).decode()},
        "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"],
                   "resources": ["pods"], "scope": "Namespaced"}],
        "namespaceSelector": namespace_selector,
    }
    if object_selector:
        hook["objectSelector"] = object_selector
    return hook


def injector_webhook(port, ca_pem):
    # Istio's own selectors: namespaces labelled istio-injection=enabled, pods not opted out.
    return {
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": "istio-sidecar-injector", "labels": {"app": "sidecar-injector"}},
        "webhooks": [_webhook(
            "sidecar-injector.istio.io", f"https://127.0.0.1:{port}/inject", ca_pem,
            {"matchExpressions": [{"key": "istio-injection", "operator": "In", "values": ["enabled"]}]},
            {"matchExpressions": [{"key": "sidecar.istio.io/inject", "operator": "NotIn",
                                   "values": ["false"]}]})],
    }


STRIPPER_NAME = "zz-legacy-policy-agent"  # sorts after istio-sidecar-injector: webhooks run in name order
STRIPPER_LABEL = "legacy-policy"


def stripper_webhook(port, ca_pem):
    return {
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": STRIPPER_NAME},
        "webhooks": [_webhook(
            "legacy-policy-agent.example.com", f"https://127.0.0.1:{port}/strip", ca_pem, {},
            {"matchLabels": {STRIPPER_LABEL: "enforced"}})],
    }


PROBE_NAMESPACE = "injection-probe"


def wait_for_injection(admin, timeout=60):
    """A new webhook configuration takes a moment to apply: dry-run pods until one is injected."""
    admin.apply(resource_path("v1", "namespaces"), {
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": PROBE_NAMESPACE, "labels": {"istio-injection": "enabled"}}})
    probe = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "probe"},
             "spec": {"containers": [{"name": "app", "image": "registry.example/app:1.0"}]}}

    def injected():
        try:
            created = admin.request("POST", resource_path("v1", "pods", PROBE_NAMESPACE), probe,
                                    params={"dryRun": "All"})
        except ApiFailure:
            return False
        names = [c["name"] for c in created["spec"].get("containers", []) + created["spec"].get("initContainers", [])]
        return "istio-proxy" in names

    admin.wait_for("the injector webhook to take effect", injected, timeout=timeout, interval=0.5)
    admin.delete(resource_path("v1", "namespaces", name=PROBE_NAMESPACE))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="hack/control-plane", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["build", "up", "down", "env"])
    parser.add_argument("--workdir", default=None, help=f"default {default_workdir()}")
    args = parser.parse_args(argv)
    plane = ControlPlane(args.workdir)
    if args.command == "build":
        build.build()
    elif args.command == "up":
        plane.up()
        print(f"export KUBECONFIG={plane.kubeconfig}")
        print(f"export PATH={Path(plane.state['kubectl']).parent}:{REPO / 'bin'}:{Path(sys.executable).parent}:$PATH")
    elif args.command == "down":
        plane.down()
    else:
        print(f"export KUBECONFIG={plane.kubeconfig}")


if __name__ == "__main__":
    try:
        main()
    except build.GoMissing as error:  # one line saying what to install, not a traceback
        sys.exit(f"error: {error}")
