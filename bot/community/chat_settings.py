"""Each chat's own settings, chosen by its admins and kept in Redis for every bot process.

A chat that never chose keeps the operator's defaults: its safety policy follows
SAFETY_GROUP_DEFAULT / SAFETY_PRIVATE_DEFAULT, everyone may draw at up to GROUP_RATE, and each
member reads the bot in their own language.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Final, Literal

from limits import parse
from pydantic import BaseModel, ConfigDict, ValidationError
from redis.exceptions import WatchError

from bot.community.control import LOCAL_CACHE_S
from bot.config import Policy
from bot.shared.languages import LANGUAGES
from common.protocol import CHOICES_KEPT_S

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from bot.config import LimitSettings, PromptSettings, SafetySettings
    from bot.shared.origin import Origin
    from bot.shared.styles import Style, Styles
    from common.protocol import Keys

POLICIES: Final[tuple[Policy, ...]] = ("off", "blur", "block")
Field = Literal["safety", "who", "rate", "daily", "drawing", "lang", "translate", "style"]
# A group's own daily caps to choose from where the operator sets none (GROUP_DAILY=0).
DAILY_CHOICES: Final = (200, 100, 50)


class ChatSettings(BaseModel):
    """What a chat's admins chose; every default means "as the operator set it"."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    # None: the operator's default for this kind of chat.
    safety: Policy | None = None
    admins_only: bool = False
    # Pictures per GROUP_RATE window in this group; 0: GROUP_RATE itself.
    rate: int = 0
    # Pictures per 24 h in this group; 0: GROUP_DAILY itself (which may be no cap).
    daily: int = 0
    drawing: bool = True
    # The group's language for everyone in it; empty: each member's own.
    language: str = ""
    # Cyrillic prompts translated to English before drawing; None: TRANSLATE_DEFAULT.
    translate: bool | None = None
    # The key of the style prompts here are drawn in (`/style`), "none" for none chosen;
    # empty: never chosen. In a private chat it is the user's own, which also applies in
    # groups that never chose.
    style: str = ""


def _parse(raw: bytes | str | None) -> ChatSettings:
    try:
        return ChatSettings.model_validate_json(raw) if raw else ChatSettings()
    except ValidationError:
        return ChatSettings()  # written by an incompatible version: start afresh


def rate_choices(limits: LimitSettings) -> list[int]:
    """The operator's group rate and a few lower ones (a half, a quarter), largest first."""
    amount = parse(limits.group_rate).amount
    return sorted({max(1, amount // part) for part in (1, 2, 4)}, reverse=True)


def daily_choices(limits: LimitSettings) -> list[int]:
    """The operator's daily cap and a half and a quarter of it; without one, no cap (0) and
    a few caps a group may set itself. The operator's choice comes first."""
    cap = limits.group_daily
    if not cap:
        return [0, *DAILY_CHOICES]
    return sorted({max(1, cap // part) for part in (1, 2, 4)}, reverse=True)


class ChatSettingsStore:
    """Reads and changes chat settings; reads are cached in-process like bans and languages."""

    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        safety: SafetySettings,
        limits: LimitSettings,
        prompts: PromptSettings,
        styles: Styles,
    ) -> None:
        self._redis = redis
        self._keys = keys
        self.safety = safety
        self.translate_default = prompts.translate_default == "on"
        self.rates = rate_choices(limits)
        self.dailies = daily_choices(limits)
        self.styles = styles
        self.window_s = int(parse(limits.group_rate).get_expiry())
        self._cache: dict[int, tuple[float, ChatSettings]] = {}

    async def get(self, chat_id: int) -> ChatSettings:
        hit = self._cache.get(chat_id)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        settings = _parse(await self._redis.get(self._keys.chat_settings(chat_id)))
        self._remember(chat_id, settings)
        return settings

    def _remember(self, chat_id: int, settings: ChatSettings) -> None:
        if len(self._cache) > 100_000:  # bounded, as Community's cache
            self._cache.clear()
        self._cache[chat_id] = (time.monotonic() + LOCAL_CACHE_S, settings)

    async def change(self, chat_id: int, field: str, value: str) -> ChatSettings | None:
        """Apply one choice (a panel button or a command); None when it is not allowed."""
        update = self._update(field, value)
        if update is None:
            return None
        key = self._keys.chat_settings(chat_id)
        # A fresh read under WATCH, never the cache: two replicas changing two settings at
        # once both land, and neither writes back the other's stale copy.
        async with self._redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(key)
                    changed = _parse(await pipe.get(key)).model_copy(update=update)
                    pipe.multi()  # type: ignore[no-untyped-call]
                    pipe.set(key, changed.model_dump_json(), ex=CHOICES_KEPT_S)
                    await pipe.execute()
                    break
                except WatchError:
                    continue  # changed meanwhile: read it again
        self._remember(chat_id, changed)
        return changed

    async def migrate(self, old_chat_id: int, new_chat_id: int) -> None:
        """A group became a supergroup (a new chat id): its settings go with it, unless the
        new chat has settings of its own already."""
        raw = await self._redis.get(self._keys.chat_settings(old_chat_id))
        if raw is not None:
            await self._redis.set(
                self._keys.chat_settings(new_chat_id), raw, nx=True, ex=CHOICES_KEPT_S
            )
            self._cache.pop(new_chat_id, None)

    def _update(self, field: str, value: str) -> dict[str, Any] | None:
        if field == "safety" and value in self.policies():
            return {"safety": value}
        if field == "who" and value in ("all", "admins"):
            return {"admins_only": value == "admins"}
        if field == "rate" and value.isdigit() and int(value) in self.rates:
            return {"rate": 0 if int(value) == self.rates[0] else int(value)}
        if field == "daily" and value.isdigit() and int(value) in self.dailies:
            return {"daily": 0 if int(value) == self.dailies[0] else int(value)}
        if field == "style" and (value == "none" or self.styles.get(value) is not None):
            return {"style": value}
        if field == "drawing" and value in ("on", "off"):
            return {"drawing": value == "on"}
        if field == "lang" and (value in LANGUAGES or value == "all"):
            return {"language": "" if value == "all" else value}
        if field == "translate" and value in ("on", "off"):
            return {"translate": value == "on"}
        return None

    def policies(self) -> tuple[Policy, ...]:
        """The policies a chat may choose: `off` only where the operator allows it."""
        return POLICIES if self.safety.safety_allow_off else POLICIES[1:]

    def policy_of(self, settings: ChatSettings, group: bool) -> Policy:
        default = self.safety.safety_group_default if group else self.safety.safety_private_default
        chosen = settings.safety or default
        if chosen == "off" and not self.safety.safety_allow_off:
            # The operator forbids `off`: neither a chat nor a default may keep it.
            return "blur" if default == "off" else default
        return chosen

    async def policy(self, origin: Origin) -> Policy:
        """The safety policy of the chat a request came from, as it stands now."""
        return self.policy_of(await self.get(origin.chat_id), origin.group)

    def translates(self, settings: ChatSettings) -> bool:
        """Whether this chat's Cyrillic prompts are translated: its choice, else the default."""
        return self.translate_default if settings.translate is None else settings.translate

    async def translates_in(self, chat_id: int) -> bool:
        return self.translates(await self.get(chat_id))

    def daily(self, settings: ChatSettings) -> int:
        """The group's pictures per 24 h (0: none), never above the operator's GROUP_DAILY."""
        cap = self.dailies[0]
        if not settings.daily:
            return cap
        return min(settings.daily, cap) if cap else settings.daily

    async def default_style(self, origin: Origin) -> Style | None:
        """The style a prompt with none of its own is drawn in: its group's, else the
        sender's own (chosen in their private chat); a style since removed from the
        catalogue counts as none."""
        if origin.group and (chosen := (await self.get(origin.chat_id)).style):
            return self.styles.get(chosen)  # "none" is no style's key
        own = (await self.get(origin.user_id)).style if origin.user_id > 0 else ""
        return self.styles.get(own) if own else None

    def rate(self, settings: ChatSettings) -> int:
        """The group's pictures per window, never above the operator's GROUP_RATE."""
        return min(settings.rate, self.rates[0]) if settings.rate else self.rates[0]
