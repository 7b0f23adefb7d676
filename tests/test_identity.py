"""People are told apart: messages sent on behalf of a chat count as that chat."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from bot import texts
from testing.harness import BotUnderTest

if TYPE_CHECKING:
    from tests.conftest import MakeApp

    pass

ANONYMOUS_ADMIN = 1087968824  # @GroupAnonymousBot: every anonymous admin of every group
CHANNEL_BOT = 136817688  # @Channel_Bot: everyone posting as a channel
ADMIN = 9900


@pytest.fixture
def strict(make_app: MakeApp) -> BotUnderTest:
    return make_app(user_rate="1/minute", admin_ids=str(ADMIN))


async def _post(app: BotUnderTest, group: int, text: str, sender: dict[str, Any]) -> None:
    user = ANONYMOUS_ADMIN if sender["type"] != "channel" else CHANNEL_BOT
    message = app.botapi.push_message(
        group, text, user_id=user, chat_type="supergroup", extra={"sender_chat": sender}
    )
    await app.message(message)


def _group(chat_id: int) -> dict[str, Any]:
    return {"id": chat_id, "type": "supergroup", "title": f"group {chat_id}"}


def _channel(chat_id: int) -> dict[str, Any]:
    return {"id": chat_id, "type": "channel", "title": f"channel {chat_id}"}


async def test_anonymous_admins_of_different_groups_have_their_own_allowance(
    strict: BotUnderTest,
) -> None:
    first, second = -100_9910, -100_9920
    await _post(strict, first, "/imagine a fox", _group(first))
    await _post(strict, second, "/imagine a wolf", _group(second))
    assert len(strict.jobs_for(first)) == 1
    assert len(strict.jobs_for(second)) == 1
    assert [job.origin.user_id for job in strict.jobs_for(first)] == [first]
    # Within one group its anonymous admins are one sender: the group's own 1 a minute.
    await _post(strict, first, "/imagine a bear", _group(first))
    assert len(strict.jobs_for(first)) == 1
    assert strict.answers(first)[-1].startswith(texts.SLOW_DOWN.split("{")[0])


async def test_channels_posting_in_a_group_are_each_themselves(strict: BotUnderTest) -> None:
    group = -100_9930
    await _post(strict, group, "/imagine a boat", _channel(-100_9931))
    await _post(strict, group, "/imagine a ship", _channel(-100_9932))
    assert sorted(job.origin.user_id for job in strict.jobs_for(group)) == [-100_9932, -100_9931]


async def test_a_banned_channel_stays_banned_whoever_posts_as_it(strict: BotUnderTest) -> None:
    group, banned, other = -100_9940, -100_9941, -100_9942
    await strict.message(strict.botapi.push_message(ADMIN, f"/ban {banned}", user_id=ADMIN))
    await _post(strict, group, "/imagine a forbidden fox", _channel(banned))
    assert strict.jobs_for(group) == []
    assert strict.botapi.sent(chat_id=group) == []  # ignored, as any banned user is
    await _post(strict, group, "/imagine an allowed fox", _channel(other))
    assert len(strict.jobs_for(group)) == 1


async def test_an_anonymous_admin_choosing_a_language_chooses_it_for_their_group_only(
    strict: BotUnderTest,
) -> None:
    first, second = -100_9950, -100_9960
    await _post(strict, first, "/language ru", _group(first))
    assert await strict.services.community.locale(first) == "ru"
    assert await strict.services.community.locale(ANONYMOUS_ADMIN) is None
    assert await strict.services.community.locale(second) is None
