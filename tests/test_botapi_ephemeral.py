"""The test Bot API's ephemeral messages and reactions, driven by aiogram as the bot drives
Telegram: a message only one member sees (edited, deleted), an older server that refuses
them, and the bot's reaction on a message."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import EphemeralMessageParameters, ReactionTypeEmoji

from testing.botapi import FakeBotAPI

TOKEN = "123456:TEST-token-for-ephemeral-messages"
GROUP = -100_4400
MEMBER, OTHER = 4401, 4402


@pytest.fixture
def server() -> Iterator[FakeBotAPI]:
    with FakeBotAPI(TOKEN) as fake:
        yield fake


@pytest_asyncio.fixture
async def bot(server: FakeBotAPI) -> AsyncIterator[Bot]:
    bot = Bot(
        token=TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(server.base_url))
    )
    yield bot
    await bot.session.close()


def _for(member: int) -> EphemeralMessageParameters:
    return EphemeralMessageParameters(receiver_user_id=member)


async def test_an_ephemeral_message_reaches_one_member_and_is_edited_and_deleted(
    server: FakeBotAPI, bot: Bot
) -> None:
    server.push_message(GROUP, "/imagine a fox", user_id=MEMBER, chat_type="supergroup")
    sent = await bot.send_message(GROUP, "In queue: #3", ephemeral_message_parameters=_for(MEMBER))
    assert sent.message_id == 0 and sent.ephemeral_message_id
    assert sent.receiver_user is not None and sent.receiver_user.id == MEMBER
    seen = server.ephemeral_for(GROUP, MEMBER)
    assert [m["text"] for m in seen] == ["In queue: #3"]
    assert server.ephemeral_for(GROUP, OTHER) == []
    # Nobody's view of the group's history changed.
    assert all(m.get("text") != "In queue: #3" for m in server.state.history[GROUP])

    edited = await bot.edit_ephemeral_message_text(
        chat_id=GROUP,
        receiver_user_id=MEMBER,
        ephemeral_message_id=sent.ephemeral_message_id,
        text="In queue: #1",
    )
    assert edited is True
    assert [m["text"] for m in server.ephemeral_for(GROUP, MEMBER)] == ["In queue: #1"]
    with pytest.raises(TelegramBadRequest, match="ephemeral message not found"):
        await bot.edit_ephemeral_message_text(
            chat_id=GROUP,
            receiver_user_id=OTHER,
            ephemeral_message_id=sent.ephemeral_message_id,
            text="not theirs",
        )

    assert await bot.delete_ephemeral_message(
        chat_id=GROUP, receiver_user_id=MEMBER, ephemeral_message_id=sent.ephemeral_message_id
    )
    assert server.ephemeral_for(GROUP, MEMBER) == []


async def test_ephemeral_messages_are_for_groups_and_an_older_server_refuses_them(
    server: FakeBotAPI, bot: Bot
) -> None:
    with pytest.raises(TelegramBadRequest, match="groups only"):
        await bot.send_message(MEMBER, "hi", ephemeral_message_parameters=_for(MEMBER))
    server.refuse_ephemeral()
    with pytest.raises(TelegramBadRequest, match="not supported"):
        await bot.send_message(GROUP, "hi", ephemeral_message_parameters=_for(MEMBER))
    # Ordinary messages still go out, as on such a server.
    assert (await bot.send_message(GROUP, "hi")).message_id > 0


async def test_the_bots_reaction_on_a_message_is_set_changed_and_cleared(
    server: FakeBotAPI, bot: Bot
) -> None:
    prompt = server.push_message(GROUP, "/imagine a fox", user_id=MEMBER, chat_type="supergroup")
    message_id = prompt["message_id"]
    assert await bot.set_message_reaction(GROUP, message_id, [ReactionTypeEmoji(emoji="👀")])
    assert server.reaction(GROUP, message_id) == ["👀"]
    assert await bot.set_message_reaction(GROUP, message_id, [ReactionTypeEmoji(emoji="⚡")])
    assert server.reaction(GROUP, message_id) == ["⚡"]
    assert await bot.set_message_reaction(GROUP, message_id, [])
    assert server.reaction(GROUP, message_id) == []
    with pytest.raises(TelegramBadRequest, match="REACTION_INVALID"):
        await bot.set_message_reaction(GROUP, message_id, [ReactionTypeEmoji(emoji="🦊")])
    with pytest.raises(TelegramBadRequest, match="message to react not found"):
        await bot.set_message_reaction(GROUP, 999, [ReactionTypeEmoji(emoji="👀")])
