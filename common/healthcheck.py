"""`python -m common.healthcheck bot|worker`: exit 0 when that process on this host is ready.

A container healthcheck: slim images have no curl, and this needs only the standard library.
It asks `/healthz` at METRICS_HOST:METRICS_PORT from the environment (the process's own
settings), or the process's default port.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

from common.config import BOT_METRICS_PORT, WORKER_METRICS_PORT
from common.metrics import HEALTH_PATH

DEFAULT_PORTS = {"bot": BOT_METRICS_PORT, "worker": WORKER_METRICS_PORT}
# An address that means "every interface" is asked on loopback.
_ANY = {"", "0.0.0.0", "::"}


def health_url(process: str) -> str | None:
    port = int(os.environ.get("METRICS_PORT") or DEFAULT_PORTS[process])
    if port == 0:
        return None
    host = os.environ.get("METRICS_HOST", "127.0.0.1")
    host = "127.0.0.1" if host in _ANY else host
    return f"http://{host}:{port}{HEALTH_PATH}"


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in DEFAULT_PORTS:
        print("usage: python -m common.healthcheck bot|worker", file=sys.stderr)
        return 2
    url = health_url(argv[0])
    if url is None:
        print("METRICS_PORT=0: the health endpoint is off, nothing to ask")
        return 1
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            print(response.read().decode().strip())
            return 0
    except urllib.error.HTTPError as exc:  # 503: up, not ready
        print(exc.read().decode().strip())
    except OSError as exc:
        print(f"no answer from {url}: {exc}")
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
