"""Admin commands: /ban, /unban, /pause, /resume, /stats. Everyone else is refused."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _
from rq import Worker

from bot import texts
from bot.filters import IsAdmin

if TYPE_CHECKING:
    from redis import Redis

    from bot.community.control import Community
    from bot.outbound.replies import Replies
    from bot.requests.jobs import JobQueue

router = Router(name=__name__)
ADMIN_COMMANDS = ("ban", "unban", "pause", "resume", "stats")


@router.message(Command(*ADMIN_COMMANDS), ~IsAdmin())
async def not_admin(message: Message, replies: Replies) -> None:
    """Refuse admin commands from everyone else."""
    if not await replies.first(message.chat.id, "admins_only"):
        return
    await message.reply(_(texts.ADMIN_ONLY))


def _user_id(command: CommandObject) -> int | None:
    arg = (command.args or "").strip()
    return int(arg) if arg.lstrip("-").isdigit() and len(arg) < 20 else None


@router.message(Command("ban"), IsAdmin())
async def ban(message: Message, command: CommandObject, community: Community) -> None:
    """Ban a user by id."""
    user_id = _user_id(command)
    if user_id is None:
        await message.reply(_(texts.BAN_USAGE))
        return
    await community.ban(user_id)
    await message.reply(_(texts.BANNED).format(user_id=user_id))


@router.message(Command("unban"), IsAdmin())
async def unban(message: Message, command: CommandObject, community: Community) -> None:
    """Lift a ban."""
    user_id = _user_id(command)
    if user_id is None:
        await message.reply(_(texts.UNBAN_USAGE))
        return
    done = await community.unban(user_id)
    await message.reply(_(texts.UNBANNED if done else texts.NOT_BANNED).format(user_id=user_id))


@router.message(Command("pause"), IsAdmin())
async def pause(message: Message, community: Community) -> None:
    """Refuse new prompts until /resume."""
    await community.set_paused(True)
    await message.reply(_(texts.PAUSED_NOW))


@router.message(Command("resume"), IsAdmin())
async def resume(message: Message, community: Community) -> None:
    """Accept prompts again."""
    await community.set_paused(False)
    await message.reply(_(texts.RESUMED_NOW))


@router.message(Command("stats"), IsAdmin())
async def stats(message: Message, community: Community, jobs: JobQueue, sync_redis: Redis) -> None:
    """Queue depth, throughput, failures, live workers."""
    depth = await asyncio.to_thread(jobs.depth)
    workers = await asyncio.to_thread(Worker.count, connection=sync_redis)
    per_minute, failures = await community.counts_last_minute()
    paused = await community.is_paused()
    await message.reply(
        _(texts.STATS).format(
            depth=depth,
            per_minute=per_minute,
            failures=failures,
            workers=workers,
            paused=_(texts.YES if paused else texts.NO),
        )
    )
