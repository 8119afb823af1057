#!/usr/bin/env python3
"""The floor for `status -A`: fetch every pod a page at a time and parse each page, nothing else.

What any Python tool that reads all pods must spend: the interpreter's start-up, urllib3's import,
the API server's time for each page, one request after another, and json.loads of each page. The
benchmark runs it beside `kubectl-sidecar status -A`, same server, same page size, same run, and
reports the ratio between the two.

    floor.py --server https://127.0.0.1:6443 --token TOKEN --ca ca.crt [--limit 500]
             [--disable-compression]
"""

import argparse
import gc
import json
import sys
import urllib.parse

import urllib3


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
    pool = urllib3.PoolManager(cert_reqs="CERT_REQUIRED", ca_certs=args.ca, retries=False)
    headers = {
        "Accept": "application/json",
        "Authorization": f"Bearer {args.token}",
        "User-Agent": "sidecar-bench-floor",
    }
    if not args.disable_compression:
        headers["Accept-Encoding"] = "gzip"  # the same pages as status fetches; urllib3 inflates
    pods = pages = 0
    token = None
    while True:
        query = {"limit": args.limit}
        if token:
            query["continue"] = token
        response = pool.request(
            "GET", f"{args.server}/api/v1/pods?{urllib.parse.urlencode(query)}", headers=headers
        )
        if response.status != 200:
            sys.exit(f"GET pods: {response.status} {response.data[:200]!r}")
        page = json.loads(response.data.decode("utf-8"))
        pods += len(page.get("items") or ())
        pages += 1
        token = (page.get("metadata") or {}).get("continue")
        del page, response
        if not token:
            break
    print(f"{pods} pods in {pages} pages")


if __name__ == "__main__":
    main()
