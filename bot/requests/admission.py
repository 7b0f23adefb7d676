"""Whether a request may be queued: prompt checks, pause, fair use. No Telegram here."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot import texts
from bot.requests.fairuse import EVERYONE
from bot.requests.jobs import job_id_for
from bot.requests.prompts import PromptError, SeedError, clean_prompt, split_seed, split_style
from bot.shared.styles import NONE, fold
from common.protocol import MAX_SEED

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from bot.community.chat_settings import ChatSettingsStore
    from bot.community.control import Blocklist, Community
    from bot.config import PromptSettings
    from bot.requests.fairuse import FairUse, Refusal
    from bot.shared.origin import Origin
    from bot.shared.styles import Style, Styles
    from common.protocol import Keys

REFUSAL_TEXTS = {
    "user_rate": texts.SLOW_DOWN,
    "group_rate": texts.GROUP_BUSY,
    "user_daily": texts.USER_DAILY_REACHED,
    "group_daily": texts.GROUP_DAILY_REACHED,
    "inflight": texts.WAIT_FOR_RUNNING,
    "queue_full": texts.QUEUE_FULL,
    "no_worker": texts.NO_WORKER,
    "drawing_off": texts.DRAWING_OFF,
    "admins_only": texts.ADMINS_ONLY_DRAWING,
}


@dataclass(frozen=True, slots=True)
class Refused:
    """Why not, as a text id with its values; `tell` is False when the user was told lately.
    `everyone`: it concerns the whole chat (busy, drawing off), and a group hears it openly."""

    text: str
    values: dict[str, Any] = field(default_factory=dict)
    tell: bool = True
    everyone: bool = False


@dataclass(frozen=True, slots=True)
class Admitted:
    prompt: str
    job_id: str
    # Asked for with `--seed N`; None draws a fresh one.
    seed: int | None = None
    # Jobs waiting when the request was admitted: its place in the queue, without asking
    # Redis again on the way to the enqueue.
    ahead: int = 0
    style: Style | None = None
    # The chat's translation switch as it is now: Cyrillic prompts drawn in English.
    translate: bool = True


@dataclass(frozen=True, slots=True)
class PromptRules:
    """What the operator decided about prompts: their length, blocked words, the styles."""

    settings: PromptSettings
    blocklist: Blocklist
    styles: Styles


@dataclass(frozen=True, slots=True)
class Repeated:
    """The update was handled before and its job is queued (or answered): nothing to do."""


class Admission:
    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        rules: PromptRules,
        fair_use: FairUse,
        community: Community,
        chats: ChatSettingsStore,
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._prompts = rules.settings
        self._blocklist = rules.blocklist
        self._styles = rules.styles
        self._fair_use = fair_use
        self._community = community
        self._chats = chats

    async def _backlog_and_repeat(self, origin: Origin) -> tuple[int, int, bool]:
        """The queue depth, the results not yet delivered (delivery deletes each entry once
        Telegram took it), and whether the update was handled before and made its job (the
        bot died before acknowledging it): one round trip for all three."""
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.llen(self._keys.queue)
            pipe.xlen(self._keys.results)
            if origin.update:
                pipe.exists(self._keys.update_job(origin.update))
            replies = await pipe.execute()
        return int(replies[0]), int(replies[1]), any(replies[2:])

    async def admit(
        self, origin: Origin, raw: str | None, style: Style | None = None, keep: bool = False
    ) -> Admitted | Refused | Repeated:
        """Validate the prompt and take an in-flight slot, or say why not. A style named in
        the prompt wins; then, with `keep`, `style` (a photo's button keeps its own, none
        included); then the chat's or the sender's default (`/style`)."""
        try:
            raw, seed = split_seed(raw, MAX_SEED)
            raw, style_name = split_style(raw)
            prompt = clean_prompt(raw, self._prompts.prompt_max_length)
        except SeedError:
            return Refused(texts.BAD_SEED, {"max_seed": MAX_SEED})
        except PromptError as exc:
            if exc.reason == "empty":
                return Refused(texts.USAGE)
            return Refused(texts.TOO_LONG, {"limit": exc.limit})
        if style_name is not None:
            if fold(style_name) in NONE:
                style = None
            elif (named := self._styles.find(style_name)) is not None:
                style = named
            else:
                listing = self._styles.listing(origin.locale)
                return Refused(texts.STYLE_UNKNOWN, {"name": style_name, "styles": listing})
            keep = True
        if self._blocklist.blocks(prompt):
            return Refused(texts.BLOCKED)
        if self._fair_use.recently_refused(origin.user_id):
            return Refused(texts.SLOW_DOWN, tell=False)
        # One after the other, on one connection at a time: run at once, they would take a
        # second connection from the pool, which after a Redis restart may be one that died
        # with it (its first command fails), and one round trip is not worth that.
        depth, undelivered, repeated = await self._backlog_and_repeat(origin)
        if repeated:
            return Repeated()
        if await self._community.is_paused() and not self._fair_use.is_admin(origin.user_id):
            tell = await self._fair_use.may_tell(origin, everyone=True)
            return Refused(texts.PAUSED, tell=tell, everyone=True)
        style, translate = await self._choices(origin, style, keep)
        job_id = job_id_for(origin)
        refusal = await self._fair_use.admit(
            origin, job_id, queue_depth=depth, undelivered=undelivered
        )
        if refusal is not None:
            self._fair_use.note_refusal(origin.user_id, refusal)
            everyone = refusal.reason in EVERYONE
            tell = await self._fair_use.may_tell(origin, everyone)
            return self._refused(refusal, tell, everyone)
        return Admitted(prompt, job_id, seed, depth, style, translate)

    async def _choices(
        self, origin: Origin, style: Style | None, keep: bool
    ) -> tuple[Style | None, bool]:
        """The style the prompt is drawn in (`style` itself with `keep`, else the chat's or
        the sender's default) and the chat's translation switch."""
        if not keep:
            style = await self._chats.default_style(origin)
        return style, await self._chats.translates_in(origin.chat_id)

    async def release(self, origin: Origin, admitted: Admitted) -> None:
        """Give the slot back when an admitted request is abandoned before it is queued."""
        await self._fair_use.release(origin.user_id, admitted.job_id)
        await self._fair_use.refund(origin, admitted.job_id)

    @staticmethod
    def _refused(refusal: Refusal, tell: bool, everyone: bool) -> Refused:
        seconds = refusal.retry_after_s
        # Whole minutes, rounded up: "again in 0 min" would be wrong until the last second.
        hours, minutes = divmod(-(-seconds // 60), 60)
        values = {"seconds": seconds, "limit": refusal.limit, "hours": hours, "minutes": minutes}
        return Refused(REFUSAL_TEXTS[refusal.reason], values, tell, everyone)
