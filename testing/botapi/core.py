"""Plain data types shared by the fake Bot API modules: errors, faults, requests and calls."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .state import BotState

JSON = dict[str, Any]

# Descriptions Telegram really uses, so bots that branch on error text behave as in production.
DEFAULT_DESCRIPTIONS: dict[int, str] = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: (
        "Conflict: terminated by other getUpdates request; "
        "make sure that only one bot instance is running"
    ),
    429: "Too Many Requests: retry after {retry_after}",
    500: "Internal Server Error",
    502: "Bad Gateway",
}


class ApiError(Exception):
    """An error answer in Telegram's shape: ``{"ok": false, "error_code", "description"}``."""

    def __init__(self, status: int, description: str, parameters: JSON | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters

    @classmethod
    def bad_request(cls, reason: str) -> ApiError:
        return cls(400, f"Bad Request: {reason}")

    def body(self) -> JSON:
        body: JSON = {"ok": False, "error_code": self.status, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


@dataclass
class Fault:
    """A scripted answer for the next ``remaining`` calls of ``method``.

    ``status=None`` means "answer normally", which together with ``delay`` simulates a slow API.
    """

    method: str
    status: int | None
    description: str
    retry_after: int | None = None
    remaining: int = 1
    delay: float = 0.0

    def error(self) -> ApiError | None:
        if self.status is None:
            return None
        parameters = {"retry_after": self.retry_after} if self.retry_after is not None else None
        return ApiError(self.status, self.description, parameters)


@dataclass(frozen=True)
class Upload:
    """One file part of a multipart request."""

    filename: str | None
    content_type: str | None
    data: bytes


@dataclass
class ApiRequest:
    """A decoded method call as the method implementations see it."""

    method: str
    params: JSON
    uploads: dict[str, Upload] = field(default_factory=dict)

    def upload_for(self, name: str) -> Upload | None:
        """The file sent for parameter ``name``: via ``attach://key`` or directly as a part."""
        value = self.params.get(name)
        if isinstance(value, str) and value.startswith("attach://"):
            return self.uploads.get(value.removeprefix("attach://"))
        return self.uploads.get(name)

    def upload_ref(self, ref: object) -> Upload | None:
        if isinstance(ref, str) and ref.startswith("attach://"):
            return self.uploads.get(ref.removeprefix("attach://"))
        return None


@dataclass
class Call:
    """One recorded HTTP call to the API.

    Calls are recorded when they arrive; ``status``/``response`` stay ``None`` until answered
    (long polls and delayed faults), which lets tests observe in-flight requests.
    """

    method: str
    params: JSON
    files: dict[str, bytes]
    filenames: dict[str, str | None]
    time: float = field(default_factory=time.monotonic)
    status: int | None = None
    response: JSON | None = None

    @property
    def answered(self) -> bool:
        return self.response is not None

    @property
    def ok(self) -> bool:
        return self.response is not None and bool(self.response.get("ok"))

    @property
    def result(self) -> Any:
        return None if self.response is None else self.response.get("result")

    @property
    def chat_id(self) -> int | str | None:
        value = self.params.get("chat_id")
        return value if isinstance(value, int | str) else None

    def file(self, param: str) -> bytes:
        """Bytes uploaded for ``param``, following aiogram's ``attach://<key>`` indirection."""
        value = self.params.get(param)
        if isinstance(value, str) and value.startswith("attach://"):
            return self.files[value.removeprefix("attach://")]
        return self.files[param]


@dataclass(frozen=True)
class Context:
    """What a method implementation may touch: the shared state and the bot's identity."""

    state: BotState
    bot_user: JSON

    @property
    def bot_id(self) -> int:
        return int(self.bot_user["id"])


Handler = Callable[[Context, ApiRequest], Any]
HANDLERS: dict[str, Handler] = {}


def api_method(*names: str) -> Callable[[Handler], Handler]:
    """Register a synchronous method implementation under its Bot API name(s)."""

    def register(func: Handler) -> Handler:
        for name in names:
            HANDLERS[name] = func
        return func

    return register
