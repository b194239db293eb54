"""Container healthcheck: exit 0 when GET URL answers 2xx within the timeout, else 1.

Our image has Python but no curl; this is the smallest probe that needs nothing more.
Usage: python docker/healthcheck.py URL
"""

import sys
import urllib.request

try:
    with urllib.request.urlopen(sys.argv[1], timeout=5) as response:
        sys.exit(0 if 200 <= response.status < 300 else 1)
except Exception as error:  # any failure is "unhealthy"; say why in `docker inspect`
    print(f"unhealthy: {error}", file=sys.stderr)
    sys.exit(1)
