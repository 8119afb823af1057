"""A minimal Kubernetes REST client for the harness itself.

Deliberately separate from kubectl_sidecar.cluster: setting up and checking a test cluster must not
depend on the code under test.
"""

import json
import time
from urllib.parse import urlencode

import urllib3


class ApiFailure(Exception):
    def __init__(self, status, method, path, body):
        super().__init__(f"{method} {path}: HTTP {status}: {body[:300]}")
        self.status = status


def resource_path(api_version, plural, namespace=None, name=None, subresource=None):
    prefix = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    path = prefix + (f"/namespaces/{namespace}" if namespace else "") + f"/{plural}"
    if name:
        path += f"/{name}"
    if subresource:
        path += f"/{subresource}"
    return path


class Api:
    def __init__(self, server, token, ca_file, pool_size=8):
        self.server = server.rstrip("/")
        self.headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
            "User-Agent": "kubectl-sidecar-harness",
        }
        self.http = urllib3.PoolManager(
            maxsize=pool_size, cert_reqs="CERT_REQUIRED", ca_certs=ca_file, retries=False
        )

    def request(
        self,
        method,
        path,
        body=None,
        params=None,
        content_type="application/json",
        expect=(200, 201, 202),
        timeout=30,
    ):
        url = self.server + path + (f"?{urlencode(params)}" if params else "")
        headers = dict(self.headers)
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            headers["Content-Type"] = content_type
        response = self.http.request(
            method,
            url,
            body=data,
            headers=headers,
            timeout=urllib3.Timeout(connect=5, read=timeout),
        )
        if expect and response.status not in expect:
            raise ApiFailure(response.status, method, path, response.data.decode(errors="replace"))
        if not response.data:
            return None
        if response.headers.get("Content-Type", "").startswith("application/json"):
            return json.loads(response.data)
        return response.data.decode(errors="replace")

    def get(self, path, missing_ok=False):
        try:
            return self.request("GET", path)
        except ApiFailure as failure:
            if missing_ok and failure.status == 404:
                return None
            raise

    def create(self, path, body):
        return self.request("POST", path, body)

    def apply(self, path, body):
        """Create, or replace the existing object's spec-level content (idempotent seeding)."""
        try:
            return self.create(path, body)
        except ApiFailure as failure:
            if failure.status != 409:
                raise
        name = body["metadata"]["name"]
        return self.request(
            "PATCH", f"{path}/{name}", body, content_type="application/merge-patch+json"
        )

    def patch(self, path, body, kind="merge"):
        content_type = {
            "merge": "application/merge-patch+json",
            "json": "application/json-patch+json",
            "strategic": "application/strategic-merge-patch+json",
        }[kind]
        return self.request("PATCH", path, body, content_type=content_type)

    def delete(self, path, params=None):
        return self.request("DELETE", path, params=params, expect=(200, 202, 404))

    def items(self, path, params=None):
        return self.request("GET", path, params=params)["items"]

    def wait_for(self, what, check, timeout=300, interval=0.2):
        deadline = time.monotonic() + timeout
        while True:
            result = check()
            if result:
                return result
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
            time.sleep(interval)

    def watch(self, path, resource_version, timeout_seconds=300):
        """Yield (type, object) events until the server closes the watch."""
        params = {
            "watch": "1",
            "allowWatchBookmarks": "true",
            "timeoutSeconds": timeout_seconds,
            "resourceVersion": resource_version,
        }
        url = f"{self.server}{path}?{urlencode(params)}"
        response = self.http.request(
            "GET",
            url,
            headers=self.headers,
            preload_content=False,
            timeout=urllib3.Timeout(connect=5, read=timeout_seconds + 30),
        )
        try:
            if response.status != 200:
                raise ApiFailure(
                    response.status, "WATCH", path, response.data.decode(errors="replace")
                )
            buffer = b""
            for chunk in response.stream(65536):
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    if line.strip():
                        event = json.loads(line)
                        yield event["type"], event["object"]
        finally:
            response.release_conn()
