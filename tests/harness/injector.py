"""The meshes' sidecar injectors, as one mutating admission webhook server on 127.0.0.1.

Routes, one per MutatingWebhookConfiguration (webhooks.py):
- /inject: Istio and ASM (injectors/istio.py);
- /linkerd: Linkerd's proxy injector (injectors/linkerd.py);
- /consul: consul-k8s's connect injector (injectors/consul.py);
- /kuma: Kuma's sidecar injector (injectors/kuma.py);
- /strip: removes restartPolicy from every init container: an old webhook built against client
  libraries that don't know the field, the failure the ASM page describes.

Each injector reads the live mesh config on every request, as the tests change it between pods.
"""

import argparse
import base64
import json
import ssl
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.harness.api import Api
from tests.harness.injectors.common import Refused, injection_patch
from tests.harness.injectors.consul import ConsulInjector

# `inject` stays importable from here: bench/status_bench.py builds injected pods with it.
from tests.harness.injectors.istio import IstioInjector, inject  # noqa: F401
from tests.harness.injectors.kuma import KumaInjector
from tests.harness.injectors.linkerd import LinkerdInjector
from tests.harness.webhooks import PROBE_LABEL, PROBE_SEEN_PREFIX


def strip_patch(pod):
    return [
        {"op": "remove", "path": f"/spec/initContainers/{index}/restartPolicy"}
        for index, container in enumerate(pod["spec"].get("initContainers") or [])
        if "restartPolicy" in container
    ]


def probe_patch(pod, route):
    """What every route does to the probe pod of webhooks.wait_for_route."""
    marked = dict(pod["metadata"].get("annotations") or {}, **{PROBE_SEEN_PREFIX + route: "true"})
    return [{"op": "add", "path": "/metadata/annotations", "value": marked}]


def review_response(review, patch=None, refusal=None):
    response = {"uid": review["request"]["uid"], "allowed": refusal is None}
    if refusal is not None:
        # As controller-runtime's admission.Errored(500, err) answers.
        response["status"] = {"code": 500, "message": refusal}
    elif patch:
        response["patchType"] = "JSONPatch"
        response["patch"] = base64.b64encode(json.dumps(patch).encode()).decode()
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response}


def answer(injectors, route, request):
    """The AdmissionReview response for one request to one route (pure but for the injectors'
    reads of the live config)."""
    pod, namespace = request["request"]["object"], request["request"]["namespace"]
    if ((pod.get("metadata") or {}).get("labels") or {}).get(PROBE_LABEL):
        return review_response(request, probe_patch(pod, route))
    if route == "strip":
        return review_response(request, strip_patch(pod))
    try:
        injected = injectors[route].review(pod, namespace)
    except Refused as refusal:
        return review_response(request, refusal=str(refusal))
    return review_response(
        request, injection_patch(pod, injected) if injected is not None else None
    )


def make_handler(injectors):
    routes = set(injectors) | {"strip"}

    class Handler(BaseHTTPRequestHandler):
        # Keep-alive: the API server reuses its connection instead of a TLS handshake per pod.
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            review = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            route = self.path.strip("/").split("?")[0]
            if route not in routes:
                self.send_error(404)
                return
            body = json.dumps(answer(injectors, route, review)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, fmt, *args):
            sys.stderr.write("injector: " + (fmt % args) + "\n")

    return Handler


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for flag in ("--server", "--token", "--ca", "--cert", "--key"):
        parser.add_argument(flag, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mesh-server", help="API server holding ASMMeshConfig (the ASM instance)")
    parser.add_argument("--mesh-token")
    parser.add_argument("--mesh-ca")
    args = parser.parse_args(argv)
    api = Api(args.server, args.token, args.ca)
    mesh_api = Api(args.mesh_server, args.mesh_token, args.mesh_ca) if args.mesh_server else None
    injectors = {
        "inject": IstioInjector(api, mesh_api),
        "linkerd": LinkerdInjector(api),
        "consul": ConsulInjector(api),
        "kuma": KumaInjector(api),
    }
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(injectors))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(args.cert, args.key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
