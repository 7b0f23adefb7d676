"""Chat settings and the safety policy as services: Redis-backed, without Telegram."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aredis

from bot.community.chat_settings import ChatSettings, ChatSettingsStore, rate_choices
from bot.config import LimitSettings, Policy, PromptSettings, SafetySettings
from bot.delivery.screening import Screening, screen
from bot.requests.fairuse import FairUse
from bot.requests.jobs import Action
from bot.shared.styles import load_styles
from common.config import QueueSettings
from common.protocol import Result
from testing.jobs import KEYS, job_context


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[aredis.Redis]:
    connection = aredis.Redis.from_url(redis_url)
    yield connection
    await connection.aclose()


def _store(client: aredis.Redis, **safety: object) -> ChatSettingsStore:
    return ChatSettingsStore(
        client,
        KEYS,
        SafetySettings.model_validate(safety),
        LimitSettings(group_rate="12/minute"),
        PromptSettings(),
        load_styles(""),
    )


FLAGGED = Result(
    job_id="j", status="ok", image=b"0", more=(b"1",), scores=(0.9, 0.2), flagged=(True, False)
)


@pytest.mark.parametrize(
    ("policy", "action", "spoilers"),
    [
        ("off", "album", [False, False]),
        ("blur", "album", [True, False]),
        ("blur", "photo", [True, False]),
        ("block", "album", [False]),
        ("blur", "file", [False]),
        ("off", "inline", [False]),  # flagged pictures are never offered inline
    ],
)
def test_a_policy_decides_what_leaves_the_bot(
    policy: Policy, action: Action, spoilers: list[bool]
) -> None:
    context = job_context("a fox", action=action, count=2)
    screened = screen(context, FLAGGED, policy)
    assert [p.spoiler for p in screened.pictures] == spoilers
    assert screened.held == 2 - len(spoilers)
    kept = [p.data for p in screened.pictures]
    assert b"1" in kept and kept == sorted(kept)
    # A job that failed: nothing to send, nothing held back, nobody to tell.
    failed = screen(context, Result(job_id="j", status="error", drawn="a fox"), policy)
    assert (failed.pictures, failed.held, failed.tell, failed.drawn) == ((), 0, False, "")


async def test_the_chats_policy_applies_when_sent_and_a_hold_is_told_once(
    client: aredis.Redis,
) -> None:
    store = _store(client)
    screening = Screening(store, FairUse(client, KEYS, LimitSettings(), QueueSettings()))
    album = job_context("a fox", chat_id=31, action="album", count=2)
    clean = FLAGGED.model_copy(update={"flagged": (False, False), "drawn": "a fox, drawn"})
    sent = await screening.screen(album, clean)
    assert [(p.data, p.seed, p.spoiler) for p in sent.pictures] == [
        (b"0", album.seeds[0], False),
        (b"1", album.seeds[1], False),
    ]
    assert (sent.held, sent.tell, sent.drawn) == (0, False, "a fox, drawn")
    # A private chat blurs by default; its owner switches to block, and the next result
    # already follows it. The requester hears of a held picture once per interval.
    blurred = await screening.screen(album, FLAGGED)
    assert ([p.spoiler for p in blurred.pictures], blurred.held, blurred.tell) == (
        [True, False],
        0,
        False,
    )
    await store.change(31, "safety", "block")
    told = [await screening.screen(album, FLAGGED) for _ in range(2)]
    assert [([p.data for p in s.pictures], s.held, s.tell) for s in told] == [
        ([b"1"], 1, True),
        ([b"1"], 1, False),
    ]
    # Inline, a flagged picture is never offered, and there is no chat to tell.
    inline = await screening.screen(job_context("a fox", 32, action="inline", count=2), FLAGGED)
    assert ([p.data for p in inline.pictures], inline.held, inline.tell) == ([b"1"], 1, False)


def test_defaults_and_what_the_operator_forbids(client: aredis.Redis) -> None:
    store = _store(client)
    chosen_off = ChatSettings(safety="off")
    assert (store.policy_of(ChatSettings(), True), store.policy_of(ChatSettings(), False)) == (
        "block",
        "blur",
    )
    assert store.policy_of(chosen_off, True) == "off"
    strict = _store(client, safety_allow_off=False, safety_private_default="off")
    assert strict.policies() == ("blur", "block")
    assert strict.policy_of(chosen_off, True) == "block"
    assert strict.policy_of(chosen_off, False) == "blur"


def test_rate_choices_stay_within_the_operators_group_rate() -> None:
    assert rate_choices(LimitSettings(group_rate="12/minute")) == [12, 6, 3]
    assert rate_choices(LimitSettings(group_rate="2 per hour")) == [2, 1]


async def test_changes_are_validated_stored_and_shared(client: aredis.Redis) -> None:
    store = _store(client)
    assert await store.change(-1, "safety", "off") == ChatSettings(safety="off")
    assert await store.change(-1, "rate", "3") == ChatSettings(safety="off", rate=3)
    assert await store.change(-1, "lang", "ru") == ChatSettings(
        safety="off", rate=3, language="ru"
    )
    for field, value in [("rate", "5"), ("safety", "none"), ("lang", "de"), ("owner", "1")]:
        assert await store.change(-1, field, value) is None
    # Another bot process reads the same settings from Redis.
    assert await _store(client).get(-1) == ChatSettings(safety="off", rate=3, language="ru")
    assert await _store(client, safety_allow_off=False).change(-2, "safety", "off") is None
    await client.set(KEYS.chat_settings(-3), b"{not json")
    assert await _store(client).get(-3) == ChatSettings()


async def test_two_replicas_changing_two_settings_keep_both(client: aredis.Redis) -> None:
    first, second = _store(client), _store(client)
    # Both replicas have read the chat (and keep it cached for a few seconds).
    assert await first.get(-700) == await second.get(-700) == ChatSettings()
    await first.change(-700, "safety", "block")
    await second.change(-700, "who", "admins")
    stored = await _store(client).get(-700)
    assert stored.safety == "block" and stored.admins_only


async def test_settings_changed_at_once_from_many_replicas_all_land(
    client: aredis.Redis, redis_url: str
) -> None:
    # Separate connections, so the WATCHed transactions really interleave in Redis.
    clients = [aredis.Redis.from_url(redis_url) for _ in range(5)]
    try:
        stores = [_store(c) for c in clients]
        changes = [("safety", "block"), ("who", "admins"), ("drawing", "off"), ("lang", "ru")]
        for _ in range(5):
            await asyncio.gather(
                *(store.change(-701, f, v) for store, (f, v) in zip(stores, changes, strict=False))
            )
        stored = await _store(client).get(-701)
        assert (stored.safety, stored.admins_only, stored.drawing, stored.language) == (
            "block",
            True,
            False,
            "ru",
        )
    finally:
        for c in clients:
            await c.aclose()
