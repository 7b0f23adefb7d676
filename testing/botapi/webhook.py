"""Webhook mode of the fake Bot API: setWebhook, and updates POSTed to the bot like Telegram.

While a webhook is set, getUpdates is refused with 409 and every update is POSTed, in order,
to the webhook URL with the `X-Telegram-Bot-Api-Secret-Token` header. An update leaves the
queue only on a 2xx answer; anything else (an error status, a refused connection, a timeout)
is tried again after a pause, as Telegram does. A test may stand in for a load balancer with
`deliver_to`: the update then goes to each of those URLs in turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import aiohttp

from .core import JSON, ApiError, ApiRequest, Context, api_method

if TYPE_CHECKING:
    from collections.abc import Callable

    from .state import BotState

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
WEBHOOK_ACTIVE = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)


@dataclass
class Webhook:
    url: str = ""
    secret_token: str = ""
    allowed_updates: list[str] = field(default_factory=list)
    # Instead of `url`, round robin over these (a load balancer in front of several bots).
    deliver_to: list[str] = field(default_factory=list)
    retry_delay_s: float = 0.5


@dataclass(frozen=True)
class Delivery:
    url: str
    update_id: int
    status: int  # 0: no HTTP answer at all (refused, reset, timed out)


@api_method("setWebhook")
def set_webhook(ctx: Context, req: ApiRequest) -> bool:
    url = str(req.params.get("url") or "")
    if url and not url.startswith("https://"):
        raise ApiError.bad_request("bad webhook: An HTTPS URL must be provided for webhook")
    hook = ctx.state.webhook
    hook.url, hook.secret_token = url, str(req.params.get("secret_token") or "")
    allowed = req.params.get("allowed_updates")
    if isinstance(allowed, list):
        hook.allowed_updates = ctx.state.allowed_updates = [str(kind) for kind in allowed]
    ctx.state.changed.notify_all()
    ctx.state.wake_pollers()
    return True


@api_method("getWebhookInfo")
def get_webhook_info(ctx: Context, req: ApiRequest) -> JSON:
    hook = ctx.state.webhook
    info: JSON = {"url": hook.url, "has_custom_certificate": False}
    info["pending_update_count"] = len(ctx.state.updates)
    if hook.allowed_updates:
        info["allowed_updates"] = hook.allowed_updates
    return info


class WebhookPusher:
    """Runs on the fake server's loop; `wake` is set whenever updates or the webhook change."""

    def __init__(self, state: BotState, changed: Callable[[], asyncio.Event | None]) -> None:
        self._state = state
        self._changed = changed
        self._turn = itertools.count()

    async def run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while True:
                event = self._changed()
                update, url, hook = self._next()
                if update is None or event is None:
                    if event is not None:
                        await event.wait()
                    else:
                        await asyncio.sleep(0.05)
                    continue
                status = await self._post(session, url, hook.secret_token, update)
                with self._state.lock:
                    self._state.deliveries.append(Delivery(url, update["update_id"], status))
                    if 200 <= status < 300:
                        self._state.updates = [
                            u for u in self._state.updates if u["update_id"] != update["update_id"]
                        ]
                    self._state.changed.notify_all()
                if not 200 <= status < 300:
                    await asyncio.sleep(hook.retry_delay_s)

    def _next(self) -> tuple[JSON | None, str, Webhook]:
        with self._state.lock:
            hook = self._state.webhook
            if not hook.url or not self._state.updates:
                return None, "", hook
            pending = self._state.take_updates(0, 1)
            if not pending:
                return None, "", hook
            update = copy.deepcopy(pending[0])
            targets = hook.deliver_to or [hook.url]
            return update, targets[next(self._turn) % len(targets)], hook

    @staticmethod
    async def _post(session: aiohttp.ClientSession, url: str, secret: str, update: JSON) -> int:
        headers = {SECRET_HEADER: secret} if secret else {}
        with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError):
            async with session.post(url, json=update, headers=headers) as response:
                await response.read()
                return response.status
        return 0
