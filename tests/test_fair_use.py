"""Fair-use decisions against a real Redis, without Telegram."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import cast

import pytest
import redis.asyncio as aredis

from bot.community.chat_rules import ChatRules, ChatVerdict
from bot.community.control import Blocklist, Community
from bot.config import LimitSettings
from bot.requests.fairuse import FairUse, Refusal
from bot.requests.workers import Workers
from bot.shared.origin import Origin
from common.config import QueueSettings
from common.protocol import Keys


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[aredis.Redis]:
    connection = aredis.Redis.from_url(redis_url)
    yield connection
    await connection.aclose()


KEYS = Keys(QueueSettings())


def _fair_use(client: aredis.Redis, redis_url: str, **overrides: object) -> FairUse:
    settings = LimitSettings.model_validate(
        {"user_rate": "3/minute", "group_rate": "4/minute", "admin_ids": "77", **overrides}
    )
    return FairUse(client, KEYS, settings, QueueSettings())


def _private(user: int) -> Origin:
    return Origin(user_id=user, chat_id=user, message_id=1, group=False, locale="en")


def _group(user: int, chat: int) -> Origin:
    return Origin(user_id=user, chat_id=chat, message_id=1, group=True, locale="en")


async def test_user_burst_is_allowed_up_to_the_rate(client: aredis.Redis, redis_url: str) -> None:
    fair = _fair_use(client, redis_url, user_inflight=100)
    outcomes = [await fair.admit(_private(1), f"job{i}", queue_depth=0) for i in range(5)]
    assert outcomes[:3] == [None, None, None]
    assert outcomes[3] is not None and outcomes[3].reason == "user_rate"
    assert 1 <= outcomes[3].retry_after_s <= 60
    # Refused requests do not hold a slot.
    assert await client.zcard(KEYS.inflight(1)) == 3


async def test_a_window_about_to_have_room_says_one_second(
    client: aredis.Redis, redis_url: str
) -> None:
    fair = _fair_use(client, redis_url, user_rate="1/second", user_inflight=100)
    assert await fair.admit(_private(8), "a", queue_depth=0) is None
    refusal = await fair.admit(_private(8), "b", queue_depth=0)
    assert refusal is not None and (refusal.reason, refusal.retry_after_s) == ("user_rate", 1)


async def test_inflight_cap_and_release(client: aredis.Redis, redis_url: str) -> None:
    fair = _fair_use(client, redis_url, user_rate="100/minute", user_inflight=2)
    assert await fair.admit(_private(5), "a", queue_depth=0) is None
    assert await fair.admit(_private(5), "b", queue_depth=0) is None
    refusal = await fair.admit(_private(5), "c", queue_depth=0)
    assert refusal is not None and refusal.reason == "inflight"
    # Refused for its slot, the request is counted in no window.
    assert await client.zcard(KEYS.rate_window("user", 5)) == 2
    await fair.release(5, "a")
    assert await fair.admit(_private(5), "c", queue_depth=0) is None
    # An admin's jobs are held too (and released alike), never capped.
    assert [await fair.hold(77, job) for job in ("x", "y", "z")] == [1, 2, 3]


async def test_a_slot_held_past_the_job_timeout_no_longer_counts(
    client: aredis.Redis, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job lost without its slot being freed (a bot killed before delivery) locks nobody
    out: three job timeouts after it was taken, the slot is ignored."""
    fair = _fair_use(client, redis_url, user_rate="100/minute", user_inflight=1)
    assert await fair.admit(_private(6), "lost", queue_depth=0) is None
    refusal = await fair.admit(_private(6), "next", queue_depth=0)
    assert refusal is not None and refusal.reason == "inflight"
    later = time.time() + QueueSettings().job_timeout_s * 3 + 1
    monkeypatch.setattr(time, "time", lambda: later)
    assert await fair.admit(_private(6), "next", queue_depth=0) is None
    assert await client.zrange(KEYS.inflight(6), 0, -1) == [b"next"]


async def test_requests_racing_for_the_slots_take_no_more_than_there_are(
    client: aredis.Redis, redis_url: str
) -> None:
    """Ten prompts of one user handled at once, each on a connection of its own (as by
    several bot processes): two slots, two admitted, and only they are counted."""
    clients = [aredis.Redis.from_url(redis_url) for _ in range(10)]
    fairs = [_fair_use(c, redis_url, user_rate="100/minute", user_inflight=2) for c in clients]
    outcomes = await asyncio.gather(
        *(fair.admit(_private(8), f"r{i}", queue_depth=0) for i, fair in enumerate(fairs))
    )
    for each in clients:
        await each.aclose()
    assert sum(outcome is None for outcome in outcomes) == 2
    assert {o.reason for o in outcomes if o is not None} == {"inflight"}
    assert await client.zcard(KEYS.inflight(8)) == 2
    assert await client.zcard(KEYS.rate_window("user", 8)) == 2


async def test_group_rate_is_shared_by_its_members(client: aredis.Redis, redis_url: str) -> None:
    fair = _fair_use(client, redis_url, user_rate="100/minute", user_inflight=100)
    results = [
        await fair.admit(_group(user, -100), f"g{user}", queue_depth=0) for user in range(10, 16)
    ]
    assert results[:4] == [None] * 4
    assert all(r is not None and r.reason == "group_rate" for r in results[4:])
    # The same users are still served in a private chat.
    assert await fair.admit(_private(14), "private", queue_depth=0) is None


class _OwnRate:
    """A group whose admins chose fewer pictures per window than GROUP_RATE."""

    def __init__(self, amount: int) -> None:
        self.amount = amount

    async def check(self, origin: Origin) -> ChatVerdict:
        return ChatVerdict(group_rate=self.amount)


async def test_a_groups_own_rate_replaces_group_rate_over_the_same_window(
    client: aredis.Redis, redis_url: str
) -> None:
    settings = LimitSettings.model_validate(
        {"user_rate": "100/minute", "group_rate": "4/minute", "user_inflight": 100}
    )
    chats = cast("ChatRules", _OwnRate(2))
    fair = FairUse(client, KEYS, settings, QueueSettings(), chats=chats)
    outcomes = [
        await fair.admit(_group(user, -8), f"own{user}", queue_depth=0) for user in (1, 2, 3)
    ]
    assert outcomes[:2] == [None, None]
    refusal = outcomes[2]
    assert refusal is not None and (refusal.reason, refusal.limit) == ("group_rate", 2)
    assert 30 < refusal.retry_after_s <= 60


async def test_a_member_retrying_at_their_own_limit_leaves_the_group_its_allowance(
    client: aredis.Redis, redis_url: str
) -> None:
    fair = _fair_use(client, redis_url, user_inflight=100)  # 3 a minute each, 4 per group
    spent = [await fair.admit(_group(20, -200), f"a{i}", queue_depth=0) for i in range(3)]
    assert spent == [None] * 3
    for i in range(10):  # refused by their own window, once a second
        refusal = await fair.admit(_group(20, -200), f"retry{i}", queue_depth=0)
        assert refusal is not None and refusal.reason == "user_rate"
    # Three of the group's four are spent; the fourth is still there for someone else.
    assert await fair.admit(_group(21, -200), "b", queue_depth=0) is None
    refusal = await fair.admit(_group(22, -200), "c", queue_depth=0)
    assert refusal is not None and refusal.reason == "group_rate"


async def test_a_request_the_group_refuses_costs_the_member_nothing(
    client: aredis.Redis, redis_url: str
) -> None:
    fair = _fair_use(client, redis_url, user_inflight=100, group_rate="1/minute")
    assert await fair.admit(_group(30, -300), "first", queue_depth=0) is None
    for i in range(5):
        refusal = await fair.admit(_group(31, -300), f"g{i}", queue_depth=0)
        assert refusal is not None and refusal.reason == "group_rate"
    # Member 31's own three a minute are untouched.
    private = [await fair.admit(_private(31), f"p{i}", queue_depth=0) for i in range(4)]
    assert private[:3] == [None] * 3
    assert private[3] is not None and private[3].reason == "user_rate"


async def test_one_request_handled_twice_is_counted_once(
    client: aredis.Redis, redis_url: str
) -> None:
    fair = _fair_use(client, redis_url, user_inflight=100)
    # The same update handled again (after a crash) has the same job id.
    assert [await fair.admit(_private(40), "same", queue_depth=0) for _ in range(5)] == [None] * 5
    later = [await fair.admit(_private(40), f"new{i}", queue_depth=0) for i in range(3)]
    assert later[:2] == [None, None]
    assert later[2] is not None and later[2].reason == "user_rate"


async def test_windows_keep_redis_time_whatever_the_bot_host_clock_says(
    client: aredis.Redis, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fair = _fair_use(client, redis_url, user_inflight=100)
    assert [await fair.admit(_private(50), f"j{i}", queue_depth=0) for i in range(3)] == [None] * 3
    # A bot host whose clock runs two minutes ahead shares the same window.
    skewed = time.time() + 120
    monkeypatch.setattr(time, "time", lambda: skewed)
    refusal = await fair.admit(_private(50), "ahead", queue_depth=0)
    assert refusal is not None and refusal.reason == "user_rate"
    assert 1 <= refusal.retry_after_s <= 60


async def test_queue_cap_and_admin_exemption(client: aredis.Redis, redis_url: str) -> None:
    fair = _fair_use(client, redis_url, queue_max_depth=5, results_backlog_max=3)
    assert await fair.admit(_private(1), "w", queue_depth=4, undelivered=2) is None
    refusal = await fair.admit(_private(1), "x", queue_depth=5)
    assert refusal is not None and refusal.reason == "queue_full"
    for i in range(10):
        assert await fair.admit(_group(77, 77), f"admin{i}", queue_depth=500) is None
    # Results waiting for Telegram past the bound: nobody's request is taken, admins' neither.
    for user in (2, 77):
        refusal = await fair.admit(_private(user), f"late{user}", queue_depth=0, undelivered=3)
        assert refusal is not None and refusal.reason == "queue_full"


async def test_a_refunded_job_gives_its_place_back_in_the_users_and_the_groups_day(
    client: aredis.Redis, redis_url: str
) -> None:
    fair = _fair_use(client, redis_url, user_daily=1, group_daily=2, user_rate="100/minute")
    asker, other = _group(1, -7), _group(2, -7)
    assert await fair.admit(asker, "a", queue_depth=0) is None
    assert await fair.admit(other, "b", queue_depth=0) is None
    refusal = await fair.admit(asker, "c", queue_depth=0)
    assert refusal is not None and (refusal.reason, refusal.limit) == ("group_daily", 2)
    # "a" failed: the member and the group each have a picture of the day again.
    await fair.refund(asker, "a")
    await fair.release(asker.user_id, "a")
    assert await fair.admit(asker, "d", queue_depth=0) is None


async def test_with_no_worker_alive_nobody_is_queued_or_charged(
    client: aredis.Redis, redis_url: str
) -> None:
    await client.delete(KEYS.workers)
    settings = LimitSettings.model_validate({"admin_ids": "77"})
    workers = Workers(client, KEYS, QueueSettings())
    fair = FairUse(client, KEYS, settings, QueueSettings(), workers=workers)
    for user in (1, 77):  # admins too: nothing would ever draw it
        refusal = await fair.admit(_private(user), f"job{user}", queue_depth=0)
        assert refusal is not None and refusal.reason == "no_worker"
        assert await client.zcard(KEYS.inflight(user)) == 0


async def test_a_user_just_refused_is_refused_again_without_asking_redis(
    client: aredis.Redis, redis_url: str
) -> None:
    fair = _fair_use(client, redis_url)
    fair.note_refusal(5, Refusal("user_rate", 30))
    fair.note_refusal(6, Refusal("inflight", 0))  # nothing to wait for: Redis decides
    assert [fair.recently_refused(user) for user in (5, 6, 7)] == [True, False, False]


async def test_refusals_are_told_at_most_once_per_interval(
    client: aredis.Redis, redis_url: str
) -> None:
    fair = _fair_use(client, redis_url, refusal_interval_s=5)
    assert [await fair.may_tell(_private(3)) for _ in range(4)] == [True, False, False, False]
    assert await fair.may_tell(_private(4)) is True
    # Told again once the interval is over: the marker lasts exactly that long.
    assert 0 < await client.ttl(KEYS.refused(3)) <= 5
    # In a group, one refusal about the whole group per chat per interval, whoever asked…
    assert await fair.may_tell(_group(10, -5), everyone=True) is True
    assert await fair.may_tell(_group(11, -5), everyone=True) is False
    assert await fair.may_tell(_group(12, -6), everyone=True) is True
    assert 0 < await client.ttl(KEYS.refused_chat(-5)) <= 5
    # …while each member hears their own (it reaches them alone), once per interval.
    assert await fair.may_tell(_group(13, -5)) is True
    assert await fair.may_tell(_group(13, -5)) is False
    assert await fair.may_tell(_group(14, -5)) is True


async def test_community_memory(client: aredis.Redis) -> None:
    community = Community(client, KEYS)
    assert await community.locale(9) is None
    await community.set_locale(9, "ru")
    assert await community.locale(9) == "ru"
    await community.ban(9)
    assert await community.is_banned(9)
    assert await community.unban(9) and not await community.is_banned(9)
    await community.count_result("ok")
    await community.count_result("ok")
    await community.count_result("error")
    assert await community.counts_last_minute() == (2, 1)


async def test_a_users_ban_and_language_are_learnt_together(client: aredis.Redis) -> None:
    """One read answers both questions every update asks, whichever comes first."""
    await client.sadd(KEYS.banned, "21")
    await client.set(KEYS.locale(22), "ru")
    first = Community(client, KEYS)
    assert await first.locale(21) is None
    assert await first.is_banned(21)
    assert not await first.is_banned(22)
    assert await first.locale(22) == "ru"


def test_blocklist_words_phrases_and_patterns(tmp_path: Path) -> None:
    path = tmp_path / "blocklist.txt"
    path.write_text("# comment\nGore\nbad word\nre:\\bnsfw\\w*\n\n", encoding="utf-8")
    blocklist = Blocklist.from_file(str(path))
    assert blocklist.blocks("some GORE here")
    assert blocklist.blocks("a bad word!")
    assert blocklist.blocks("nsfwish")
    assert not blocklist.blocks("gorenje fridge")  # whole words only
    assert not blocklist.blocks("a badword")
    assert not Blocklist.from_file("").blocks("anything")
