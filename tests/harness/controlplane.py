"""One local control plane: etcd, kube-apiserver, kube-controller-manager, plus the two stand-ins a
cluster without machines needs: a kubelet simulator (fake nodes whose pods become Running and
Ready) and the mesh injectors' webhook server.

Everything listens on 127.0.0.1 with generated certificates and static tokens (credentials.py);
processes are recorded so a crashed run can be cleaned up (processes.py); the objects every run
needs are in bootstrap.py and webhooks.py; `hack/control-plane` is cli.py.
"""

import os
import shutil
import socket
import sys
import time
from pathlib import Path

from tests.harness import build, webhooks
from tests.harness.api import Api
from tests.harness.bootstrap import bootstrap
from tests.harness.credentials import (
    ADMIN_TOKEN,
    VIEWER_TOKEN,
    make_certificates,
    token_file,
    write_kubeconfig,
)
from tests.harness.processes import Processes

REPO = Path(__file__).resolve().parents[2]
DEFAULT_NODES = {"node-1": "v1.36.3", "node-2": "v1.36.3", "node-3": "v1.35.1"}
# kube-controller-manager without the controllers that need real machines: node lifecycle would
# taint and evict our heartbeat-less fake nodes, IPAM needs a pod CIDR.
CONTROLLERS = "*,-node-lifecycle-controller,-node-ipam-controller,-service-lb-controller,-node-route-controller,-cloud-node-lifecycle-controller"
ISTIO_INJECTORS = ("harness", "istio")
ISTIO_INJECTOR_ENV = "KUBECTL_SIDECAR_ISTIO_INJECTOR"
READY_TIMEOUT = 120  # seconds; 2-core machines need far more than envtest's 20 s
AUDIT_POLICY = """apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: Metadata
"""


def default_workdir() -> Path:
    return build.cache_root() / "control-plane"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ControlPlane:
    """One control plane in one working directory."""

    def __init__(
        self,
        workdir=None,
        controllers=True,
        kubelet=True,
        injector=True,
        nodes=None,
        audit=True,
        mesh_instance=None,
        istio_injector=None,
    ):
        self.workdir = Path(workdir or default_workdir()).resolve()
        self.controllers, self.kubelet, self.injector, self.audit = (
            controllers,
            kubelet,
            injector,
            audit,
        )
        # Another ControlPlane playing the ASM instance: the injector reads ASMMeshConfig there.
        self.mesh_instance = mesh_instance
        # Who injects for Istio/ASM: "istio" (Istio's own webhook code, istio_injector/, built on
        # first use; the default, so the injector the tests trust is Istio's) or "harness" (the
        # model in injectors/istio.py).
        self.istio_injector = istio_injector or os.environ.get(ISTIO_INJECTOR_ENV, "istio")
        if self.istio_injector not in ISTIO_INJECTORS:
            raise ValueError(
                f"istio_injector must be one of {', '.join(ISTIO_INJECTORS)}, not {self.istio_injector!r}"
            )
        self.nodes = DEFAULT_NODES if nodes is None else nodes
        self.certs = self.workdir / "certs"
        self.logs = self.workdir / "logs"
        self.kubeconfig = self.workdir / "kubeconfig"
        self.audit_log = self.workdir / "audit.log"
        self.processes = Processes(self.workdir / "state.json", self.logs, REPO)

    @property
    def state(self) -> dict:
        """server, ports, pids and the kubectl path of the running control plane."""
        return self.processes.state

    # --- life cycle -----------------------------------------------------------------------

    def up(self, log=lambda line: print(line, file=sys.stderr, flush=True)):
        self.down()
        started = time.monotonic()
        binaries = build.build(log)
        if self.injector and self.istio_injector == "istio":
            binaries["istio-injector"] = build.build_istio_injector(log)
        self.workdir.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.workdir / "etcd", ignore_errors=True)
        shutil.rmtree(self.logs, ignore_errors=True)
        self.audit_log.unlink(missing_ok=True)
        self.logs.mkdir()
        if not (self.certs / "serving.crt").exists():
            make_certificates(self.certs)
        ports = {name: free_port() for name in ("etcd", "peer", "apiserver", "webhook")}
        if "istio-injector" in binaries:
            ports["istio-injector"] = free_port()
        server = f"https://127.0.0.1:{ports['apiserver']}"
        self.processes.state = {
            "server": server,
            "ports": ports,
            "pids": {},
            "kubectl": str(binaries["kubectl"]),
        }
        self.processes.save()
        try:
            self._start_etcd(binaries["etcd"], ports)
            self._start_apiserver(binaries["kube-apiserver"], ports, server)
            write_kubeconfig(
                self.kubeconfig,
                server,
                self.certs / "ca.crt",
                {"admin": ADMIN_TOKEN, "viewer": VIEWER_TOKEN},
                namespace="default",
            )
            self._wait_ready()
            bootstrap(self.api(), self.nodes)
            if self.controllers:
                self._start_controller_manager(binaries["kube-controller-manager"])
            harness_args = [
                "--server",
                server,
                "--token",
                ADMIN_TOKEN,
                "--ca",
                str(self.certs / "ca.crt"),
            ]
            if self.kubelet:
                self.processes.start(
                    "kubelet-sim",
                    [sys.executable, "-m", "tests.harness.kubelet_sim", *harness_args],
                )
            if self.injector:
                self._start_injector(harness_args, ports, binaries.get("istio-injector"))
        except BaseException:
            self.down()
            raise
        log(f"control plane up in {time.monotonic() - started:.1f}s at {server}")
        return self

    def down(self):
        """Stop every process this working directory recorded; safe to call twice."""
        self.processes.stop_all()

    # --- components -----------------------------------------------------------------------

    def _start_etcd(self, etcd, ports):
        client, peer = f"http://127.0.0.1:{ports['etcd']}", f"http://127.0.0.1:{ports['peer']}"
        self.processes.start(
            "etcd",
            [
                str(etcd),
                f"--data-dir={self.workdir / 'etcd'}",
                f"--listen-client-urls={client}",
                f"--advertise-client-urls={client}",
                f"--listen-peer-urls={peer}",
                f"--initial-advertise-peer-urls={peer}",
                f"--initial-cluster=default={peer}",
                "--unsafe-no-fsync",
                "--quota-backend-bytes=8589934592",
                "--log-level=warn",
            ],
        )

    def _start_apiserver(self, apiserver, ports, server):
        (self.workdir / "tokens.csv").write_text(token_file())
        (self.workdir / "audit-policy.yaml").write_text(AUDIT_POLICY)
        argv = [
            str(apiserver),
            f"--etcd-servers=http://127.0.0.1:{ports['etcd']}",
            "--bind-address=127.0.0.1",
            f"--secure-port={ports['apiserver']}",
            "--advertise-address=127.0.0.1",
            "--endpoint-reconciler-type=none",
            f"--cert-dir={self.certs}",
            f"--tls-cert-file={self.certs / 'serving.crt'}",
            f"--tls-private-key-file={self.certs / 'serving.key'}",
            f"--client-ca-file={self.certs / 'ca.crt'}",
            "--service-cluster-ip-range=10.0.0.0/24",
            "--authorization-mode=RBAC",
            "--allow-privileged=true",
            f"--service-account-issuer={server}",
            f"--service-account-key-file={self.certs / 'sa.pub'}",
            f"--service-account-signing-key-file={self.certs / 'sa.key'}",
            f"--token-auth-file={self.workdir / 'tokens.csv'}",
            # No token controller to race with: pods need no service-account token here.
            "--disable-admission-plugins=ServiceAccount",
        ]
        if self.audit:
            argv += [
                f"--audit-policy-file={self.workdir / 'audit-policy.yaml'}",
                f"--audit-log-path={self.audit_log}",
                "--audit-log-maxsize=0",
            ]
        self._apiserver_argv = argv
        self.processes.start("kube-apiserver", argv)

    def stop_apiserver(self):
        """Kill kube-apiserver: a control plane lost to its clients until start_apiserver."""
        self.processes.stop("kube-apiserver")

    def start_apiserver(self):
        """Start kube-apiserver again on the same port and data; returns once it is ready."""
        self.processes.start("kube-apiserver", self._apiserver_argv)
        self._wait_ready()

    def restart_apiserver(self, down_seconds=2.0):
        """Kill kube-apiserver, leave it down a moment, start it again on the same port and
        data: what a managed cluster's control-plane upgrade looks like to a client."""
        self.processes.stop("kube-apiserver")
        time.sleep(down_seconds)
        self.processes.start("kube-apiserver", self._apiserver_argv)
        self._wait_ready()

    def _start_controller_manager(self, binary):
        # The components share the admin's kubeconfig file.
        self.processes.start(
            "kube-controller-manager",
            [
                str(binary),
                f"--kubeconfig={self.kubeconfig}",
                "--leader-elect=false",
                "--secure-port=0",
                f"--controllers={CONTROLLERS}",
                f"--service-account-private-key-file={self.certs / 'sa.key'}",
                f"--root-ca-file={self.certs / 'ca.crt'}",
                "--concurrent-deployment-syncs=10",
                "--concurrent-replicaset-syncs=10",
                "--v=1",
            ],
        )

    def _start_injector(self, harness_args, ports, istio_binary=None):
        mesh_args = []
        if self.mesh_instance is not None:
            mesh_args = [
                "--mesh-server",
                self.mesh_instance.state["server"],
                "--mesh-token",
                ADMIN_TOKEN,
                "--mesh-ca",
                str(self.mesh_instance.certs / "ca.crt"),
            ]
        serving = [
            "--cert",
            str(self.certs / "serving.crt"),
            "--key",
            str(self.certs / "serving.key"),
        ]
        # The harness's server always runs: Linkerd, Consul and the stripper stay on it.
        self.processes.start(
            "injector",
            [
                sys.executable,
                "-m",
                "tests.harness.injector",
                *harness_args,
                *mesh_args,
                "--port",
                str(ports["webhook"]),
                *serving,
            ],
        )
        istio_port = None
        if istio_binary is not None:
            istio_port = ports["istio-injector"]
            self.processes.start(
                "istio-injector",
                [
                    str(istio_binary),
                    *harness_args,
                    *mesh_args,
                    "--port",
                    str(istio_port),
                    *serving,
                ],
            )
        webhooks.register_injectors(self.api(), ports["webhook"], self._ca_pem(), istio_port)

    def _wait_ready(self):
        admin = self.api()
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            for name in ("etcd", "kube-apiserver"):
                if not self.processes.alive(name):
                    raise RuntimeError(f"{name} died while starting:\n{self.processes.tail(name)}")
            try:
                admin.request("GET", "/readyz", timeout=5)
                return
            except Exception as error:  # noqa: BLE001 - any failure means "not yet"
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"kube-apiserver not ready after {READY_TIMEOUT}s ({error}):\n"
                        f"{self.processes.tail('kube-apiserver')}"
                    ) from None
                time.sleep(0.5)

    def _ca_pem(self) -> bytes:
        return (self.certs / "ca.crt").read_bytes()

    # --- for tests, the demo and the benchmark ------------------------------------------------

    def api(self, token=ADMIN_TOKEN):
        return Api(self.state["server"], token, str(self.certs / "ca.crt"), pool_size=32)

    def env(self):
        """Environment for running `kubectl sidecar` against this control plane."""
        kubectl_dir = str(Path(self.state["kubectl"]).parent)
        # bin/kubectl-sidecar runs `python3` from PATH: the one this harness runs in has the deps.
        python_dir = str(Path(sys.executable).parent)
        path = os.pathsep.join(
            [kubectl_dir, str(REPO / "bin"), python_dir, os.environ.get("PATH", "")]
        )
        no_proxy = ",".join(filter(None, [os.environ.get("NO_PROXY"), "127.0.0.1,localhost"]))
        return dict(
            os.environ,
            KUBECONFIG=str(self.kubeconfig),
            PATH=path,
            NO_PROXY=no_proxy,
            no_proxy=no_proxy,
        )

    def named_kubeconfig(self, name):
        """A kubeconfig whose cluster, user and context are all called `name` (admin rights), so
        it can sit beside another control plane's in one KUBECONFIG list."""
        return write_kubeconfig(
            self.workdir / f"{name}.kubeconfig",
            self.state["server"],
            self.certs / "ca.crt",
            {name: ADMIN_TOKEN},
            cluster=name,
        )

    def register_stripper(self):
        """The optional second webhook: drops restartPolicy from the init containers of pods
        labelled legacy-policy=enforced. Returns once the API server calls it."""
        webhooks.register_stripper(self.api(), self.state["ports"]["webhook"], self._ca_pem())

    def unregister_stripper(self):
        webhooks.unregister_stripper(self.api())


if __name__ == "__main__":
    # hack/control-plane runs this module; the command line itself lives in cli.py.
    from tests.harness.cli import main

    try:
        main()
    except build.GoMissing as error:  # one line saying what to install, not a traceback
        sys.exit(f"error: {error}")
