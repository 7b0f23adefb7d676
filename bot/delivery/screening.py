"""A chat's safety policy applied to a finished job's pictures, when they are sent.

The worker flags pictures (`Result.flagged`); the policy of the chat, read at send time so a
change applies at once, decides what leaves the bot:

| policy | a flagged picture                                | an unflagged one |
| ------ | ------------------------------------------------ | ---------------- |
| off    | sent as is                                        | sent as is       |
| blur   | sent under a spoiler; as a PNG file: held back   | sent as is       |
| block  | held back; the requester hears so (throttled)    | sent as is       |

Inline answers never offer a flagged picture, whatever the policy: there is no chat to hold
a spoiler policy for, and the picker would post it in a chat that may not want it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.community.chat_settings import ChatSettingsStore
    from bot.config import Policy
    from bot.requests.fairuse import FairUse
    from bot.requests.jobs import JobContext
    from common.protocol import Result


@dataclass(frozen=True, slots=True)
class Picture:
    data: bytes
    seed: int
    spoiler: bool = False


@dataclass(frozen=True, slots=True)
class Screened:
    """What may be sent of a job's pictures, in order, and how many were held back."""

    pictures: tuple[Picture, ...]
    held: int = 0
    # Whether the requester is told about held pictures (at most once per refusal interval).
    tell: bool = False
    # The English text the worker drew, when it translated the prompt.
    drawn: str = ""


def screen(context: JobContext, result: Result, policy: Policy) -> Screened:
    """Apply `policy` to every picture of `result` (a job that failed has none)."""
    if result.status != "ok":
        return Screened(())
    kept: list[Picture] = []
    for index, (data, seed) in enumerate(zip(result.images, context.seeds, strict=False)):
        flagged = result.is_flagged(index)
        if not flagged or (policy == "off" and context.action != "inline"):
            kept.append(Picture(data, seed))
        elif policy == "blur" and context.action in ("photo", "album"):
            kept.append(Picture(data, seed, spoiler=True))
    return Screened(tuple(kept), held=len(result.images) - len(kept), drawn=result.drawn)


class Screening:
    """The chat's policy, looked up when a result is sent, and the throttled notice."""

    def __init__(self, chats: ChatSettingsStore, fair_use: FairUse) -> None:
        self._chats = chats
        self._fair_use = fair_use

    async def screen(self, context: JobContext, result: Result) -> Screened:
        if not any(result.flagged):
            # Nothing to decide: no Redis read for the common case.
            return screen(context, result, "off")
        policy = await self._chats.policy(context.origin)
        screened = screen(context, result, policy)
        if screened.held and context.action != "inline":
            tell = await self._fair_use.may_tell(context.origin)
            return replace(screened, tell=tell)
        return screened
