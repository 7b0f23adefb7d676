"""Daily caps (`USER_DAILY`, `GROUP_DAILY`, a group's own in /settings): they refuse with when
they reset, give a failed job's place back, spare the operators, and reset as the rolling
24 h moves on. Through the real dispatcher in the test's loop and a real Redis."""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING, cast

import redis.asyncio as aredis

from bot.config import LimitSettings
from bot.requests.fairuse import DAY_S, FairUse
from bot.shared.origin import Origin
from common.config import QueueSettings
from common.protocol import Keys, Result

if TYPE_CHECKING:
    from testing.harness import BotUnderTest
    from tests.conftest import MakeApp

KEYS = Keys(QueueSettings())
GROUP, ADMIN = -100_9600, 9600
REACHED = re.compile(r"daily limit\. You can draw again in (\d+) h (\d+) min\.$")


async def _ask(app: BotUnderTest, chat: int, user: int, text: str) -> None:
    kind = "supergroup" if chat < 0 else "private"
    await app.message(app.botapi.push_message(chat, text, user_id=user, chat_type=kind))


def _told(app: BotUnderTest, chat: int, user: int) -> list[str]:
    """What the member was told: in private the chat, in a group what reached them alone."""
    if chat > 0:
        return app.answers(chat)
    return [m["text"] for m in app.botapi.ephemeral_for(chat, user)]


def _day_passes(app: BotUnderTest, key: str) -> None:
    """Every entry of a window a day and a second older, as if that much time went by."""
    entries = cast("list[tuple[bytes, float]]", app.redis.zrange(key, 0, -1, withscores=True))
    for member, score in entries:
        app.redis.zadd(key, {member: score - (DAY_S + 1) * 1000})


async def test_a_users_daily_cap_refuses_says_when_and_resets(make_app: MakeApp) -> None:
    app = make_app(user_daily="2", user_inflight="10", refusal_interval_s="1")
    user = 9601
    for n in range(3):
        await _ask(app, user, user, f"/imagine fox {n}")
    assert len(app.jobs_for(user)) == 2
    refusal = app.answers(user)[-1]
    assert refusal.startswith("That's 2 pictures for you in the last 24 hours")
    match = REACHED.search(refusal)
    assert match is not None
    # Rounded up to the minute: the first picture leaves the window in just under 24 h.
    assert (int(match[1]), int(match[2])) in ((24, 0), (23, 59))
    # A day on, the cap has room again.
    _day_passes(app, KEYS.daily_window("user", user))
    await asyncio.sleep(1.1)  # the refusal shortcut (SHORTCUT_S) of this process
    await _ask(app, user, user, "/imagine fox again")
    assert len(app.jobs_for(user)) == 3


async def test_a_user_over_their_rate_is_told_in_how_many_seconds(make_app: MakeApp) -> None:
    app = make_app(user_rate="2/minute", user_inflight="10")
    user = 9606
    for n in range(5):  # the last two at once after the refusal: not answered again
        await _ask(app, user, user, f"/imagine fox {n}")
    assert len(app.jobs_for(user)) == 2
    assert len(app.answers(user)) == 1
    refusal = re.fullmatch(
        r"You're going fast! Please try again in (\d+) s\.", app.answers(user)[-1]
    )
    assert refusal is not None and 50 < int(refusal[1]) <= 60


async def test_a_failed_job_gives_its_place_back_and_operators_are_exempt(
    make_app: MakeApp,
) -> None:
    app = make_app(user_daily="1", user_inflight="10", admin_ids=str(ADMIN))
    user = 9602
    await _ask(app, user, user, "/imagine fox")
    (job,) = app.jobs_for(user)
    failed = Result(job_id=job.job_id, status="error", error="failed")
    await app.services.job_done(job, failed)
    await _ask(app, user, user, "/imagine fox, second try")
    assert len(app.jobs_for(user)) == 2  # the failure did not count
    for n in range(3):
        await _ask(app, ADMIN, ADMIN, f"/imagine owl {n}")
    assert len(app.jobs_for(ADMIN)) == 3
    assert not any("daily limit" in text for text in app.answers(ADMIN))


async def test_a_groups_own_cap_is_set_by_its_admin_and_said_to_the_group_once(
    make_app: MakeApp,
) -> None:
    app = make_app(group_daily="8", user_inflight="10")
    app.botapi.set_role(GROUP, ADMIN, "creator")
    store = app.services.chat_settings
    assert store.dailies == [8, 4, 2]
    # The panel's button, as the admin presses it.
    assert await app.services.chat_rules.configure(_group_origin(ADMIN), "daily", "2")
    assert isinstance(
        await app.services.chat_rules.configure(_group_origin(9603), "daily", "8"), str
    )
    for user in (9603, 9604, 9605):
        await _ask(app, GROUP, user, f"/imagine fox by {user}")
    assert len(app.jobs_for(GROUP)) == 2
    # The group's cap concerns everyone in it: said once, openly, for all to read.
    (refusal,) = [m["text"] for m in app.botapi.messages(GROUP) if m["from"]["is_bot"]]
    assert refusal.startswith("This chat has had its 2 pictures of the last 24 hours")
    assert REACHED.search(refusal) is not None
    assert not any("daily limit" in t for u in (9603, 9604, 9605) for t in _told(app, GROUP, u))
    # Only admitted requests are counted.
    assert app.redis.zcard(KEYS.daily_window("group", GROUP)) == 2


def _group_origin(user: int) -> Origin:
    return Origin(user_id=user, chat_id=GROUP, message_id=1, group=True, locale="en")


async def test_a_crowd_at_the_cap_at_once_gets_exactly_the_cap(redis_url: str) -> None:
    client = aredis.Redis.from_url(redis_url)
    try:
        settings = LimitSettings(group_daily=5, user_rate="100/minute", user_inflight=100)
        fair = FairUse(client, KEYS, settings, QueueSettings())
        chat = -100_9700
        origins = [
            Origin(user_id=9700 + n, chat_id=chat, message_id=n, group=True, locale="en")
            for n in range(20)
        ]
        outcomes = await asyncio.gather(
            *(fair.admit(o, f"crowd-{n}", queue_depth=0) for n, o in enumerate(origins))
        )
        assert sum(outcome is None for outcome in outcomes) == 5
        refused = [o for o in outcomes if o is not None]
        assert {(o.reason, o.limit) for o in refused} == {("group_daily", 5)}
        assert await client.zcard(KEYS.daily_window("group", chat)) == 5
    finally:
        await client.aclose()
