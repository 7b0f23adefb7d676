"""A whole request in one call: admission, the input picture, the job, the queue status.

Every way of asking for pictures (a typed prompt, a captioned picture, a button, an inline
query) becomes one `Ask`; `ImagineService.request` answers it with `Queued` or `Refused`.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiogram.enums import ChatAction

from bot import metrics
from bot.outbound.chat_actions import show_upload
from bot.requests.admission import Admitted, Refused, Repeated
from bot.requests.jobs import JobContext, new_seed
from bot.requests.sources import SourceError, fetch_source

if TYPE_CHECKING:
    from aiogram import Bot

    from bot.config import PlaySettings
    from bot.requests.admission import Admission
    from bot.requests.images import ImageStore
    from bot.requests.jobs import Action, JobQueue
    from bot.requests.sources import Picture
    from bot.requests.status import StatusBoard
    from bot.shared.origin import Origin
    from bot.shared.styles import Style


@dataclass(frozen=True, slots=True)
class Ask:
    """One request for pictures, as the user made it."""

    origin: Origin
    prompt: str | None
    action: Action = "photo"
    count: int = 1
    # Fixed by the request itself (the 📄 File button); None keeps `--seed N` or draws one.
    seed: int | None = None
    # Image-to-image from an input already stored (buttons under such a photo)…
    source: str = ""
    # …or from a picture the message carries, downloaded once the request is admitted.
    picture: Picture | None = None
    inline_query_id: str = ""
    # The style a photo's button keeps (with `keep_style`, None too); `--style` still wins.
    style: Style | None = None
    keep_style: bool = False
    # The 2× version of the picture the other fields make, at this refinement strength.
    upscale: float = 0.0


@dataclass(frozen=True, slots=True)
class Queued:
    # None when the update was handled before and already has its job.
    context: JobContext | None
    # 1-based place in the queue right after enqueueing; 0 when the queue was empty.
    position: int
    first_use: bool = False


class ImagineService:
    def __init__(
        self,
        bot: Bot,
        admission: Admission,
        jobs: JobQueue,
        images: ImageStore,
        status: StatusBoard,
        play: PlaySettings,
    ) -> None:
        self._bot = bot
        self._admission = admission
        self._jobs = jobs
        self._images = images
        self._status = status
        self._play = play

    @metrics.counts_admissions
    async def request(self, ask: Ask) -> Queued | Refused:
        """Admit, fetch the input picture, queue, and post the queue position if any.

        Nothing is sent for a request before its job is queued, so a bot that dies before
        that leaves nothing half-answered, and the update is handled again after a restart.
        An update handled before that made its job gets `Queued` with no context, and nothing
        is done or sent again for it.
        """
        admitted = await self._admission.admit(ask.origin, ask.prompt, ask.style, ask.keep_style)
        if isinstance(admitted, Refused):
            return admitted
        if isinstance(admitted, Repeated):
            return Queued(None, 0)
        try:
            source = await self._source(ask, admitted)
        except SourceError as exc:
            await self._admission.release(ask.origin, admitted)
            return Refused(exc.text, exc.values)
        except BaseException:
            await self._admission.release(ask.origin, admitted)
            raise
        context = JobContext(
            job_id=admitted.job_id,
            origin=ask.origin,
            prompt=admitted.prompt,
            seeds=self._seeds(ask, admitted),
            enqueued_at=time.time(),
            action=ask.action,
            source=source,
            inline_query_id=ask.inline_query_id,
            style=admitted.style,
            upscale=ask.upscale,
            translate=admitted.translate,
        )
        try:
            submitted = await self._jobs.submit(context)
        except BaseException:
            await self._admission.release(ask.origin, admitted)
            raise
        if not submitted.fresh:
            # Another handler of this very update got there first; the slot is that job's.
            return Queued(None, 0)
        action = self._chat_action(context)
        position = admitted.ahead + 1 if admitted.ahead else 0
        if context.action != "inline":
            if position:
                await self._status.post(context, position)
            await self._status.react_queued(context)
        if action is not None:
            await action
        return Queued(context, position, submitted.first_use)

    async def _source(self, ask: Ask, admitted: Admitted) -> str:
        """The Redis key of the input image; refused requests never download anything."""
        if ask.picture is None:
            return ask.source
        picture = ask.picture
        name = f"u-{picture.unique_id}" if picture.unique_id else admitted.job_id
        return await self._images.keep_source(
            name, lambda: fetch_source(self._bot, picture, self._play)
        )

    @staticmethod
    def _seeds(ask: Ask, admitted: Admitted) -> tuple[int, ...]:
        # `--seed N` typed in the prompt wins over the seed a request keeps (an edited
        # prompt keeps its picture's seed unless the user names another).
        first = admitted.seed if admitted.seed is not None else ask.seed
        return tuple(
            first if first is not None and i == 0 else new_seed() for i in range(ask.count)
        )

    def _chat_action(self, context: JobContext) -> asyncio.Task[None] | None:
        if context.action == "inline":
            return None
        kind = ChatAction.UPLOAD_DOCUMENT if context.action == "file" else ChatAction.UPLOAD_PHOTO
        return asyncio.create_task(show_upload(self._bot, context.origin, kind))
