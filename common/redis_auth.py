"""One warning when Redis on another host lets this process in without a password.

Anyone who reaches such a Redis can queue work, read what the bot keeps (prompts, input
pictures) and fill its memory; the worker still runs only the project's own jobs
(`common/trusted.py`). Loopback and unix sockets are left alone: the two-command local
start keeps working, quietly. The URL itself is never logged (it may carry a password).
"""

from __future__ import annotations

import ipaddress
import logging
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from common.config import RedisSettings

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})


def open_to_others(redis_url: str, password: str = "") -> str | None:
    """The host of a Redis reached without a password, unless it is this machine."""
    parts = urlsplit(redis_url)
    if parts.scheme == "unix" or parts.password or password:
        return None
    host = (parts.hostname or "localhost").lower()
    if host in LOOPBACK_NAMES:
        return None
    try:
        if ipaddress.ip_address(host).is_loopback:
            return None
    except ValueError:
        pass  # a name: another machine, or a container
    return host


def warn_if_open(redis: RedisSettings, log: logging.Logger) -> None:
    host = open_to_others(redis.redis_url, redis.redis_password.get_secret_value())
    if host is not None:
        log.warning(
            "Redis at %s lets this process in without a password: set REDIS_PASSWORD "
            "(README, Security), or anyone who reaches it can queue work and read what the "
            "bot keeps",
            host,
        )
