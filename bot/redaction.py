"""Keeping secrets out of everything the bot prints.

aiogram puts the token in every request URL, and some HTTP client errors quote the URL (an
invalid TELEGRAM_API_URL, for one). A filter on the log handlers rewrites each record, its
traceback included, and the exception hooks do the same for anything that escapes.
"""

from __future__ import annotations

import logging
import sys
import threading
import traceback
from typing import TYPE_CHECKING, Final
from urllib.parse import quote, unquote, urlsplit

if TYPE_CHECKING:
    from collections.abc import Iterable
    from types import TracebackType

MASK: Final = "[redacted]"
# Shorter strings could match ordinary text; real tokens and passwords are much longer.
MIN_SECRET: Final = 6


def secret_forms(token: str, redis_url: str = "", *others: str) -> list[str]:
    """The token as given, URL-encoded, and its secret half; the Redis password if any; any
    other secret (the webhook's) as given."""
    forms = {token, quote(token, safe=""), *others}
    _, _, secret_half = token.partition(":")
    forms.add(secret_half)
    password = urlsplit(redis_url).password if redis_url else None
    if password:
        forms.update({password, unquote(password)})
    # Longest first, so the full token goes before its half does.
    return sorted((f for f in forms if len(f) >= MIN_SECRET), key=len, reverse=True)


class Redactor(logging.Filter):
    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = list(secrets)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.redact(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True

    def format_exception(
        self, exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
    ) -> str:
        return self.redact("".join(traceback.format_exception(exc_type, exc, tb)))


def install(secrets: Iterable[str]) -> Redactor:
    """Redact on every handler of the root logger and in the uncaught-exception hooks."""
    redactor = Redactor(secrets)
    for handler in logging.getLogger().handlers:
        handler.addFilter(redactor)

    def excepthook(
        exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
    ) -> None:
        sys.stderr.write(redactor.format_exception(exc_type, exc, tb))

    def thread_excepthook(args: threading.ExceptHookArgs) -> None:
        if args.exc_value is not None:
            sys.stderr.write(
                redactor.format_exception(args.exc_type, args.exc_value, args.exc_traceback)
            )

    sys.excepthook = excepthook
    threading.excepthook = thread_excepthook
    return redactor
