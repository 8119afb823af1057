#!/usr/bin/env python3
"""The floor for `status -A`: fetch every pod a page at a time and parse each page, nothing else.

What any Python tool that reads all pods must spend: the interpreter's start-up, the standard
library's http.client and ssl (what status's transport.py uses), the API server's time for each
page, one request after another, and json.loads of each page. The
benchmark runs it beside `kubectl-sidecar status -A`, same server, same page size, same run, and
reports the ratio between the two.

    floor.py --server https://127.0.0.1:6443 --token TOKEN --ca ca.crt [--limit 500]
             [--disable-compression]
"""

import argparse
import gc
import http.client
import json
import ssl
import sys
import urllib.parse
import zlib


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--ca", required=True)
    parser.add_argument("--limit", type=int, default=500, help="pods per page (status's PAGE_SIZE)")
    parser.add_argument(
        "--disable-compression",
        action="store_true",
        help="don't ask for gzip (status, like kubectl, asks for it by default)",
    )
    args = parser.parse_args(argv)
    # Parsed JSON has no reference cycles: without this the collector walks every page as it is
    # built, which costs more than the parse itself. status does the same.
    gc.disable()
    server = urllib.parse.urlsplit(args.server)
    context = ssl.create_default_context(cafile=args.ca)
    connection = http.client.HTTPSConnection(server.hostname, server.port, context=context)
    headers = {
        "Accept": "application/json",
        "Authorization": f"Bearer {args.token}",
        "User-Agent": "sidecar-bench-floor",
    }
    if not args.disable_compression:
        headers["Accept-Encoding"] = "gzip"  # the same pages as status fetches
    pods = pages = 0
    token = None
    while True:
        query = {"limit": args.limit}
        if token:
            query["continue"] = token
        connection.request("GET", f"/api/v1/pods?{urllib.parse.urlencode(query)}", headers=headers)
        response = connection.getresponse()
        body = response.read()
        if response.status != 200:
            sys.exit(f"GET pods: {response.status} {body[:200]!r}")
        if response.getheader("Content-Encoding") == "gzip":
            body = zlib.decompress(body, 16 + zlib.MAX_WBITS)
        page = json.loads(body.decode("utf-8"))
        del body
        pods += len(page.get("items") or ())
        pages += 1
        token = (page.get("metadata") or {}).get("continue")
        del page, response
        if not token:
            break
    print(f"{pods} pods in {pages} pages")


if __name__ == "__main__":
    main()
