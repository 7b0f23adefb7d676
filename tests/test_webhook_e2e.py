"""Webhook mode end to end: setWebhook, updates POSTed with the secret, replicas sharing work."""

from __future__ import annotations

import json
import signal
import urllib.error
import urllib.request
from functools import partial
from typing import TYPE_CHECKING

import pytest

from testing.faults import LICENCE, photos, seen, wait_handled
from testing.support import TOKEN, Process, bot_refusing_to_start, free_port

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tests.conftest import Stack

SECRET = "s3cret-webhook_token-for-tests"
PUBLIC_URL = "https://bot.example.org/telegram/hook"


def _webhook_bot(
    stack: Stack, consumer: str, module: str = "bot", **env: str
) -> tuple[Process, str]:
    """A bot in webhook mode on a port of its own, once its webhook is set; returns it and
    the URL it serves."""
    before = len(stack.botapi.calls)
    bot, url = _spawn_webhook_bot(stack, consumer, module, **env)
    stack.botapi.wait_for(
        lambda c: c.method == "setWebhook" and c.ok and stack.botapi.calls.index(c) >= before,
        timeout=60,
    )
    return bot, url


def _spawn_webhook_bot(
    stack: Stack, consumer: str, module: str = "bot", **env: str
) -> tuple[Process, str]:
    botapi, port = stack.botapi, free_port()
    bot = stack.spawn(
        module,
        redis_url=stack.redis.url,
        bot_token=TOKEN,
        telegram_api_url=botapi.base_url,
        webhook_url=PUBLIC_URL,
        webhook_secret=SECRET,
        webhook_host="127.0.0.1",
        webhook_port=str(port),
        consumer_name=consumer,
        **env,
    )
    return bot, f"http://127.0.0.1:{port}/telegram/hook"


def _post(url: str, update: dict[str, object], secret: str | None) -> int:
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret
    request = urllib.request.Request(url, json.dumps(update).encode(), headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.fixture(scope="module")
def webhook_stack(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Iterator[Stack]:
    from tests.conftest import Stack

    stack = Stack(tmp_path_factory.mktemp("webhook"), tiny_model, bot=False)
    yield stack
    stack.close()


@pytest.fixture
def hooked(webhook_stack: Stack) -> Iterator[Stack]:
    """Redis, the Bot API and a warm worker, shared by the tests here; each starts the bots
    it needs, which are stopped after it, and finds Telegram with no webhook, no calls and
    no pending update (each test has chats of its own)."""
    webhook_stack.botapi.reset()
    started = len(webhook_stack.spawn.started)
    yield webhook_stack
    for process in webhook_stack.spawn.started[started:]:
        process.stop()


def test_webhook_is_set_and_only_updates_with_the_secret_are_drawn(hooked: Stack) -> None:
    botapi = hooked.botapi
    _, url = _webhook_bot(hooked, "bot-1")
    (call,) = [c for c in botapi.calls if c.method == "setWebhook"]
    assert call.params["url"] == PUBLIC_URL
    assert call.params["secret_token"] == SECRET
    assert "message" in call.params["allowed_updates"]
    botapi.state.webhook.deliver_to = [url]
    # Telegram (the fake) POSTs the update with the secret: a photo comes back as a reply.
    sent = botapi.push_message(6001, "/imagine a fox in the snow", user_id=6001)
    photo = botapi.wait_for(lambda c: c.method == "sendPhoto" and c.chat_id == 6001, timeout=60)
    assert photo.result["reply_to_message"]["message_id"] == sent["message_id"]
    # Anyone else POSTing without the secret, or with a wrong one, is refused and ignored.
    forged = {"update_id": 900_001, "message": {**sent, "text": "/imagine a forged fox"}}
    assert _post(url, forged, None) == 401
    assert _post(url, {**forged, "update_id": 900_002}, "wrong-secret") == 401
    # A real prompt after them is the chat's only other photo: nothing forged was drawn.
    again = botapi.push_message(6001, "/imagine a second fox", user_id=6001)
    botapi.wait_for(
        lambda c: c.method == "sendPhoto" and c.chat_id == 6001 and c.ok
        and c.result["reply_to_message"]["message_id"] == again["message_id"],
        timeout=60,
    )  # fmt: skip
    assert len(photos(botapi, 6001)) == 2
    # Telegram retrying an update it already delivered changes nothing either.
    first_id = next(d.update_id for d in botapi.state.deliveries if d.status == 200)
    assert _post(url, {"update_id": first_id, "message": sent}, SECRET) == 200
    botapi.push_message(6001, "/imagine a third fox", user_id=6001)
    botapi.wait_until(lambda: len(photos(botapi, 6001)) == 3, timeout=60)
    assert [c.result["caption"].split("\n")[0] for c in photos(botapi, 6001)] == [
        "a fox in the snow",
        "a second fox",
        "a third fox",
    ]


def test_replicas_behind_a_balancer_answer_each_prompt_once_even_one_dying_after_its_200(
    hooked: Stack, tmp_path: Path
) -> None:
    botapi = hooked.botapi
    # An update left unfinished by a consumer that is gone is taken over after a second.
    first, url_1 = _webhook_bot(hooked, "bot-1", claim_idle_s="1")
    second, url_2 = _webhook_bot(hooked, "bot-2", claim_idle_s="1")
    botapi.state.webhook.deliver_to = [url_1, url_2]
    chats = range(6101, 6107)
    for chat in chats:
        botapi.push_message(chat, f"/imagine fox number {chat}", user_id=chat)
    for chat in chats:
        botapi.wait_for(
            partial(lambda chat, c: c.method == "sendPhoto" and c.chat_id == chat, chat),
            timeout=90,
        )
    # Nothing more can come (every update delivered and handled, no job or result left):
    # both replicas took updates, alternately, and every prompt got exactly one answer.
    wait_handled(botapi, hooked.redis.url)
    used = [d.url for d in botapi.state.deliveries if d.status == 200]
    assert set(used) == {url_1, url_2}
    for chat in chats:
        assert seen(botapi, chat) == [LICENCE, "photo"]
    assert first.proc.poll() is None and second.proc.poll() is None

    # A third replica records an update, answers Telegram 200 and is killed in its handler
    # (the request admitted, nothing queued): Telegram will not send it again, so the
    # others must finish it from the inbox. They are frozen meanwhile, so that the update
    # is surely read by the replica that dies (any replica reads any recorded update).
    for replica in (first, second):
        replica.signal(signal.SIGSTOP)
    dying, url_3 = _webhook_bot(
        hooked,
        "bot-3",
        module="testing.crashing_bot",
        crash_at="admitted",
        crash_flag=str(tmp_path / "crashed"),
    )
    botapi.state.webhook.deliver_to = [url_3]
    delivered = len(botapi.state.deliveries)
    sent = botapi.push_message(6110, "/imagine a fox whose replica died", user_id=6110)
    assert dying.proc.wait(30) == -signal.SIGKILL
    assert [d.status for d in botapi.state.deliveries[delivered:]] == [200]
    botapi.state.webhook.deliver_to = [url_1, url_2]
    for replica in (first, second):
        replica.signal(signal.SIGCONT)
    photo = botapi.wait_for(lambda c: c.method == "sendPhoto" and c.chat_id == 6110, timeout=60)
    assert photo.result["reply_to_message"]["message_id"] == sent["message_id"]
    wait_handled(botapi, hooked.redis.url)
    assert seen(botapi, 6110) == [LICENCE, "photo"]
    assert len(botapi.state.deliveries) == delivered + 1  # delivered once, answered once
    assert "taking over 1 pending update(s)" in first.output() + second.output()


def test_redis_away_makes_the_webhook_answer_503_and_telegram_delivers_again(
    tmp_path: Path, tiny_model: Path
) -> None:
    """With Redis gone the bot cannot record an update, so it does not take it: Telegram
    hears 503, keeps the update and delivers it again once Redis is back, and the prompt is
    answered once."""
    from tests.conftest import Stack

    stack = Stack(tmp_path, tiny_model, bot=False, appendonly=True)
    try:
        botapi = stack.botapi
        bot, url = _webhook_bot(stack, "bot-1")
        botapi.state.webhook.deliver_to = [url]
        stack.redis.stop()
        sent = botapi.push_message(6201, "/imagine a patient fox", user_id=6201)
        botapi.wait_until(
            lambda: any(d.status == 503 for d in botapi.state.deliveries), timeout=30
        )
        assert botapi.state.updates  # Telegram still holds it
        stack.redis.start()  # same port, same append-only file
        photo = botapi.wait_for(
            lambda c: c.method == "sendPhoto" and c.chat_id == 6201 and c.ok, timeout=120
        )
        assert photo.result["reply_to_message"]["message_id"] == sent["message_id"]
        wait_handled(botapi, stack.redis.url)
        statuses = [d.status for d in botapi.state.deliveries]
        assert statuses[0] == 503 and statuses[-1] == 200
        assert seen(botapi, 6201) == [LICENCE, "photo"]
        assert bot.proc.poll() is None
    finally:
        stack.close()


def test_the_webhook_secret_never_reaches_the_logs(hooked: Stack) -> None:
    """Telegram refusing the webhook with the secret in its answer: the bot stops with one
    line saying why, and the secret reads as redacted there."""
    botapi = hooked.botapi
    botapi.fail_next("setWebhook", status=400, description=f"Bad Request: {SECRET} refused")
    bot, _ = _spawn_webhook_bot(hooked, "bot-1")
    assert bot.proc.wait(60) == 2
    output = bot.output()
    # One clear line, naming the settings, and no traceback.
    assert "Telegram refused the webhook (Bad Request: [redacted] refused): WEBHOOK_URL" in output
    assert "Traceback" not in output
    assert SECRET not in output


def test_a_webhook_url_without_a_secret_is_a_clear_error(tmp_path: Path) -> None:
    line = bot_refusing_to_start(tmp_path, {"BOT_TOKEN": TOKEN, "WEBHOOK_URL": PUBLIC_URL})
    assert "invalid or missing settings: WEBHOOK_SECRET" in line
