"""Redis stays bounded: every key expires or is capped, inputs are small and kept once, and
nothing accepted can be trimmed unsent."""

from __future__ import annotations

import io
import random
from typing import TYPE_CHECKING

import pytest
import redis
from PIL import Image

from bot import texts
from bot.intake.inbox import Inbox
from bot.requests.sources import MAX_SOURCE_BYTES
from common.config import QueueSettings
from common.protocol import Keys
from common.redis_auth import open_to_others
from testing.harness import BotUnderTest
from tests.conftest import BOT_USERNAME

if TYPE_CHECKING:
    from tests.conftest import MakeApp

    pass

KEYS = Keys(QueueSettings())
# Bounded otherwise: streams by their caps (RESULTS_MAXLEN, the inbox's INBOX_MAX), the
# queue by QUEUE_MAX_DEPTH, the workers' and queued-since sorted sets by their sweeps, the
# ban list and the pause switch by what admins do, the status hash (one field per queued
# job, cleared as each is answered or its record expires), RQ's own records by its registries.
CAPPED = {
    KEYS.results,
    KEYS.inbox,
    KEYS.queue,
    KEYS.workers,
    KEYS.queued_since,
    KEYS.banned,
    KEYS.status,
}


def _noise_jpeg(size: tuple[int, int]) -> bytes:
    rng = random.Random(7)
    image = Image.frombytes("RGB", size, rng.randbytes(size[0] * size[1] * 3))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=95)
    return out.getvalue()


@pytest.fixture
def app(make_app: MakeApp) -> BotUnderTest:
    return make_app(results_backlog_max="3", user_inflight="10")


async def test_every_key_the_bot_writes_expires_or_is_capped(app: BotUnderTest) -> None:
    botapi = app.botapi
    group = -100_9800
    await app.message(botapi.push_message(9801, "/start"))
    await app.message(botapi.push_message(9801, "/language ru"))
    await app.message(botapi.push_message(9801, "/imagine a fox"))
    await app.message(botapi.push_message(9802, photo=_noise_jpeg((900, 700)), caption="as ink"))
    await app.message(
        botapi.push_message(group, f"/help@{BOT_USERNAME}", user_id=9803, chat_type="supergroup")
    )
    await app.services.chat_settings.change(group, "safety", "block")
    await app.services.community.told_once(group)
    unbounded = []
    for key in app.redis.scan_iter("*"):
        name = key.decode()
        if name in CAPPED or name.startswith("rq:"):
            continue
        if app.redis.ttl(key) < 0:
            unbounded.append(name)
    assert unbounded == []


async def test_an_input_picture_is_small_and_kept_once_however_often_it_is_used(
    app: BotUnderTest,
) -> None:
    botapi = app.botapi
    photo = botapi.push_message(9811, photo=_noise_jpeg((1600, 1200)))
    await app.message(photo)
    for prompt in ("at night", "in snow", "as ink"):
        await app.message(
            botapi.push_message(9811, prompt, reply_to_message_id=photo["message_id"])
        )
    jobs = app.jobs_for(9811)
    assert len(jobs) == 3
    sources = {job.source for job in jobs}
    assert len(sources) == 1
    (source,) = sources
    assert 0 < len(app.redis.get(source) or b"") <= MAX_SOURCE_BYTES
    assert MAX_SOURCE_BYTES == 48 * 1024
    # Downloaded once: the later uses found it kept.
    file_id = photo["photo"][-1]["file_id"]
    gets = [c for c in botapi.calls if c.method == "getFile" and c.params["file_id"] == file_id]
    assert len(gets) == 1


async def test_results_waiting_for_telegram_past_the_bound_make_new_requests_wait(
    app: BotUnderTest,
) -> None:
    for n in range(3):  # three results made, none at Telegram yet
        app.redis.xadd(KEYS.results, {"job_id": f"{n:032x}", "status": "error"})
    await app.message(app.botapi.push_message(9821, "/imagine a heron"))
    assert app.answers(9821) == [texts.QUEUE_FULL]
    assert app.jobs_for(9821) == []
    # Once Telegram has taken them, requests are queued again.
    app.redis.delete(KEYS.results)
    await app.message(app.botapi.push_message(9822, "/imagine a heron, later"))
    assert len(app.jobs_for(9822)) == 1


async def test_a_full_inbox_refuses_a_page_whole_so_telegram_keeps_it(redis_url: str) -> None:
    import redis.asyncio as aredis

    client = aredis.Redis.from_url(redis_url)
    try:
        inbox = Inbox(client, KEYS, 1, "c")
        inbox.max_entries = 3
        await inbox.record_many([{"update_id": n} for n in range(3)])
        with pytest.raises(redis.ResponseError, match="INBOXFULL"):
            await inbox.record_many([{"update_id": 3}, {"update_id": 4}])
        assert await client.xlen(KEYS.inbox) == 3
        # Nothing of the refused page was marked as seen: offered again, it is recorded.
        await client.xtrim(KEYS.inbox, maxlen=0)
        await inbox.record_many([{"update_id": 3}, {"update_id": 4}])
        assert await client.xlen(KEYS.inbox) == 2
    finally:
        await client.aclose()


@pytest.mark.parametrize(
    ("url", "open_host"),
    [
        ("redis://localhost:6379/0", None),
        ("redis://127.0.0.1:6379/0", None),
        ("redis://[::1]:6379/0", None),
        ("unix:///run/redis.sock", None),
        ("redis://:secret@redis:6379/0", None),
        ("redis://redis:6379/0", "redis"),
        ("redis://:@redis:6379/0", "redis"),  # compose with REDIS_PASSWORD left empty
        ("redis://10.0.0.5:6379/0", "10.0.0.5"),
    ],
)
def test_redis_without_a_password_elsewhere_is_warned_about(
    url: str, open_host: str | None
) -> None:
    assert open_to_others(url) == open_host
