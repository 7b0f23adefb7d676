"""From a raw prompt to a queued job: every check a request passes, without Telegram."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot import metrics, texts
from bot.services.jobs import new_job_id
from bot.services.prompts import PromptError, SeedError, clean_prompt, split_seed
from common.protocol import MAX_SEED

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from bot.config import Settings
    from bot.services.community import Blocklist, Community
    from bot.services.fairuse import FairUse, Refusal
    from bot.services.jobs import Action, JobContext, JobQueue

REFUSAL_TEXTS = {
    "user_rate": texts.SLOW_DOWN,
    "group_rate": texts.GROUP_BUSY,
    "inflight": texts.WAIT_FOR_RUNNING,
    "queue_full": texts.QUEUE_FULL,
}


@dataclass(frozen=True, slots=True)
class Refused:
    """Why not, as a text id with its values; `tell` is False when the user was told lately."""

    text: str
    values: dict[str, Any] = field(default_factory=dict)
    tell: bool = True


@dataclass(frozen=True, slots=True)
class Admitted:
    prompt: str
    job_id: str
    user_id: int
    first_use: bool
    # Asked for with `--seed N`; None draws a fresh one.
    seed: int | None = None
    # Jobs waiting when the request was admitted: its place in the queue, without asking
    # Redis again on the way to the enqueue.
    ahead: int = 0


@dataclass(frozen=True, slots=True)
class Queued:
    context: JobContext
    # 1-based place in the queue right after enqueueing; 0 when the queue was empty.
    position: int
    first_use: bool = False


class ImagineService:
    def __init__(
        self,
        settings: Settings,
        redis: Redis,
        jobs: JobQueue,
        fair_use: FairUse,
        community: Community,
        blocklist: Blocklist,
    ) -> None:
        self._settings = settings
        self._redis = redis
        self._jobs = jobs
        self._fair_use = fair_use
        self._community = community
        self._blocklist = blocklist

    @metrics.counts_admissions
    async def admit(
        self, raw: str | None, *, user_id: int, chat_id: int, group: bool
    ) -> Admitted | Refused:
        """Validate the prompt and take an in-flight slot, or say why not."""
        try:
            raw, seed = split_seed(raw, MAX_SEED)
            prompt = clean_prompt(raw, self._settings.prompts.prompt_max_length)
        except SeedError:
            return Refused(texts.BAD_SEED, {"max_seed": MAX_SEED})
        except PromptError as exc:
            if exc.reason == "empty":
                return Refused(texts.USAGE)
            return Refused(texts.TOO_LONG, {"limit": exc.limit})
        if self._blocklist.blocks(prompt):
            return Refused(texts.BLOCKED)
        if self._fair_use.recently_refused(user_id):
            return Refused(texts.SLOW_DOWN, tell=False)
        if await self._community.is_paused() and not self._fair_use.is_admin(user_id):
            tell = await self._fair_use.may_tell(user_id, chat_id if group else None)
            return Refused(texts.PAUSED, tell=tell)
        job_id = new_job_id()
        depth = int(await self._redis.llen(self._jobs.queue_key))
        refusal = await self._fair_use.admit(
            user_id, chat_id, job_id, group=group, queue_depth=depth
        )
        if refusal is not None:
            self._fair_use.note_refusal(user_id, refusal)
            tell = await self._fair_use.may_tell(user_id, chat_id if group else None)
            return self._refused(refusal, tell)
        first_use = await self._community.first_use(user_id)
        return Admitted(prompt, job_id, user_id, first_use, seed, depth)

    @staticmethod
    def _refused(refusal: Refusal, tell: bool) -> Refused:
        return Refused(REFUSAL_TEXTS[refusal.reason], {"seconds": refusal.retry_after_s}, tell)

    async def release(self, admitted: Admitted) -> None:
        """Give the slot back when an admitted request is abandoned before it is queued."""
        await self._fair_use.release(admitted.user_id, admitted.job_id)

    async def enqueue(
        self,
        admitted: Admitted,
        *,
        chat_id: int,
        message_id: int,
        locale: str,
        action: Action = "photo",
        count: int = 1,
        source: str = "",
        inline_query_id: str = "",
    ) -> Queued:
        """Queue the admitted job; the slot is given back if Redis refuses it."""
        ahead = admitted.ahead
        try:
            context = await self._jobs.submit(
                admitted.prompt,
                chat_id=chat_id,
                message_id=message_id,
                user_id=admitted.user_id,
                job_id=admitted.job_id,
                locale=locale,
                seed=admitted.seed,
                action=action,
                count=count,
                source=source,
                inline_query_id=inline_query_id,
            )
        except BaseException:
            await self._fair_use.release(admitted.user_id, admitted.job_id)
            raise
        return Queued(context, ahead + 1 if ahead else 0, admitted.first_use)
