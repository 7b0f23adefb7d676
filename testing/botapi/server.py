"""FakeBotAPI: a real HTTP Telegram Bot API server for tests, on a background thread.

The server has its own event loop in a daemon thread, so it serves sync tests, async tests
(whatever loop pytest-asyncio gives them) and bots running in subprocesses alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import socket
import threading
from types import TracebackType
from typing import Any

from aiohttp import web

from . import editing, ephemeral, misc, sending, webhook  # noqa: F401  (registers the methods)
from .core import DEFAULT_DESCRIPTIONS, HANDLERS, JSON, ApiError, ApiRequest, Call, Context
from .flood import Flood, FloodGate
from .inspecting import InspectMixin
from .objects import make_bot_user
from .parsing import parse_request
from .pushing import PushMixin
from .state import BotState

log = logging.getLogger(__name__)

DEFAULT_TOKEN = "123456:TEST-token"
# Telegram method names are case-insensitive; calls are recorded under the canonical name.
_CANONICAL = {name.lower(): name for name in [*HANDLERS, "getUpdates"]}


class FakeBotAPI(PushMixin, InspectMixin):
    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        bot_id: int | None = None,
        username: str = "ImagineTestBot",
        first_name: str = "Imagine Test Bot",
        port: int = 0,
        host: str = "127.0.0.1",
        flood: Flood | None = None,
    ) -> None:
        self.token = token
        # Real tokens start with the bot id; keep getMe consistent with aiogram's Bot.id.
        prefix = token.split(":", 1)[0]
        self.bot_id = bot_id if bot_id is not None else int(prefix) if prefix.isdigit() else 1
        self.username = username
        self.bot_user = make_bot_user(self.bot_id, first_name, username)
        self.state = BotState()
        self.errors: list[BaseException] = []  # bugs inside the fake itself, for debugging
        self._ctx = Context(self.state, self.bot_user)
        self._port = port
        self._host = host
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._new_update: asyncio.Event | None = None
        self._closing = False
        self._pusher: asyncio.Task[None] | None = None
        # Telegram's flood control, when asked for (`flood_mode`); None sends without limits.
        self._flood = FloodGate(flood, self.state) if flood is not None else None

    def flood_mode(self, limits: Flood | None = None) -> None:
        """Answer 429 with `retry_after`, as Telegram does, to a bot sending past `limits`
        (Telegram's defaults when None). The count of such answers is `throttled`."""
        self._flood = FloodGate(limits or Flood(), self.state)

    @property
    def throttled(self) -> list[Call]:
        """Every call answered 429 Too Many Requests so far."""
        return [call for call in self.calls if call.status == 429]

    # -- lifecycle ----------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    def start(self) -> FakeBotAPI:
        if self._thread is not None:
            raise RuntimeError("FakeBotAPI is already running")
        self._closing = False
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="fake-bot-api", daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(), loop).result(timeout=10)
        self.state.wake_pollers = self._wake_threadsafe
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        # Pending long polls return at once instead of holding the shutdown for their timeout.
        self._closing = True
        self._wake_threadsafe()
        if self._pusher is not None:
            loop.call_soon_threadsafe(self._pusher.cancel)
        if self._runner is not None:
            cleanup = asyncio.run_coroutine_threadsafe(self._runner.cleanup(), loop)
            with contextlib.suppress(Exception):
                cleanup.result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
        self.state.wake_pollers = lambda: None
        self._loop = self._thread = self._runner = self._pusher = None

    def __enter__(self) -> FakeBotAPI:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def _serve(self) -> None:
        self._new_update = asyncio.Event()
        app = web.Application(client_max_size=60 * 1024 * 1024)  # bots may upload 50 MB
        app.router.add_route("*", "/bot{token}/{method}", self._handle_method)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        # A short shutdown timeout: tests must not hang on a client that never hangs up.
        self._runner = web.AppRunner(app, shutdown_timeout=1.0, access_log=None)
        await self._runner.setup()
        # Binding the socket ourselves is the public way to learn an ephemeral port.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self._host, self._port))
        self._port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()
        pusher = webhook.WebhookPusher(self.state, lambda: self._new_update)
        self._pusher = asyncio.create_task(pusher.run())

    # -- HTTP ---------------------------------------------------------------------------------

    async def _handle_method(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response(ApiError(401, "Unauthorized").body(), status=401)
        name = request.match_info["method"]
        method = _CANONICAL.get(name.lower(), name)
        try:
            params, uploads = await parse_request(request)
        except ApiError as exc:
            return web.json_response(exc.body(), status=exc.status)
        files = {key: upload.data for key, upload in uploads.items()}
        names = {key: upload.filename for key, upload in uploads.items()}
        call = self.state.record(Call(method, params, files, names))
        status, body = await self._answer(ApiRequest(method, params, uploads))
        self.state.answer(call, status, body)
        return web.json_response(body, status=status)

    async def _answer(self, req: ApiRequest) -> tuple[int, JSON]:
        try:
            fault = self.state.take_fault(req.method)
            if fault is not None and fault.delay:
                await asyncio.sleep(fault.delay)
            error = fault.error() if fault is not None else None
            if error is not None:
                raise error
            if self._flood is not None:
                self._flood.check(req.method, req.params)
            if req.method == "getUpdates" and self.state.webhook.url:
                raise ApiError(409, webhook.WEBHOOK_ACTIVE)
            if req.method == "getUpdates":
                return 200, {"ok": True, "result": await self._get_updates(req.params)}
            handler = HANDLERS.get(req.method)
            if handler is None:
                raise ApiError(404, DEFAULT_DESCRIPTIONS[404])
            with self.state.lock:
                # A copy: the answer recorded for a call must not change with later edits.
                result = copy.deepcopy(handler(self._ctx, req))
            return 200, {"ok": True, "result": result}
        except ApiError as exc:
            return exc.status, exc.body()
        except Exception as exc:  # a bug in the fake: surface it instead of hanging the bot
            log.exception("fake Bot API failed on %s", req.method)
            self.errors.append(exc)
            return 500, ApiError(500, f"Internal Server Error: fake API bug: {exc!r}").body()

    async def _handle_file(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response(ApiError(401, "Unauthorized").body(), status=401)
        stored = self.state.file_by_path(request.match_info["path"])
        if stored is None:
            return web.json_response(ApiError(404, "Not Found").body(), status=404)
        return web.Response(body=stored.data, content_type="application/octet-stream")

    # -- long polling -------------------------------------------------------------------------

    def _wake_threadsafe(self) -> None:
        loop = self._loop
        if loop is not None and loop.is_running():
            with contextlib.suppress(RuntimeError):  # loop closing between check and call
                loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        # A fresh Event per generation: every poller waiting on the old one wakes up, and
        # pollers arriving later wait for the next change.
        if self._new_update is not None:
            self._new_update.set()
        self._new_update = asyncio.Event()

    async def _get_updates(self, params: JSON) -> list[JSON]:
        offset = _int(params.get("offset"), 0)
        limit = min(max(_int(params.get("limit"), 100), 1), 100)
        timeout = max(_int(params.get("timeout"), 0), 0)
        with self.state.lock:
            if isinstance(params.get("allowed_updates"), list):
                self.state.allowed_updates = params["allowed_updates"]
            # A newer getUpdates terminates an older one, exactly as on Telegram.
            self.state.poll_generation += 1
            generation = self.state.poll_generation
        self._wake()
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            event = self._new_update
            if self.state.poll_generation != generation:
                raise ApiError(409, DEFAULT_DESCRIPTIONS[409])
            updates = self.state.take_updates(offset, limit)
            remaining = deadline - asyncio.get_running_loop().time()
            if updates or self._closing or remaining <= 0 or event is None:
                return updates
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), remaining)


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default
