"""Runs scim2-tester against a SCIM server and fails on any ERROR or CRITICAL result.

Usage: check.py BASE_URL TOKEN   (BASE_URL ends in /scim/v2). Prints one line per check.
"""

import sys

from httpx2 import Client
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server


def main() -> int:
    base, token = sys.argv[1], sys.argv[2]
    http = Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    scim = SyncSCIMClient(http)
    results = check_server(scim)
    bad = 0
    for r in results:
        where = f"[{r.resource_type}] " if r.resource_type else ""
        print(f"{r.status.name:10} {where}{r.title}: {r.reason or ''}")
        if r.status in (Status.ERROR, Status.CRITICAL):
            bad += 1
            if r.data is not None:
                print(f"           data: {r.data!r}"[:2000])
    counts = {}
    for r in results:
        counts[r.status.name] = counts.get(r.status.name, 0) + 1
    print("summary:", ", ".join(f"{k}={v}" for k, v in sorted(counts.items())))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
