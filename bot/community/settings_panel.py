"""The /settings panel: a chat's settings as text and one row of buttons per setting.

Each button carries only `cfg:<setting>:<value>` (validated again by `ChatSettingsStore.change`),
and the panel is drawn from what is stored, so pressing a button and redrawing always agree.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.i18n import gettext

from bot import texts
from bot.shared.languages import LANGUAGES

if TYPE_CHECKING:
    from bot.community.chat_settings import ChatSettings, ChatSettingsStore, Field
    from bot.config import Policy

POLICY_NAMES: Final[dict[Policy, str]] = {
    "off": texts.STATE_OFF,
    "blur": texts.POLICY_BLUR,
    "block": texts.POLICY_BLOCK,
}
_POLICY_ICONS: Final[dict[Policy, str]] = {"block": "⛔", "blur": "🌫", "off": "🔓"}
CHOSEN: Final = "✅ "


class SettingsButton(CallbackData, prefix="cfg"):
    field: str
    value: str


class Panel:
    """Draws the panel of one chat in one language."""

    def __init__(self, store: ChatSettingsStore, group: bool, locale: str) -> None:
        self._store = store
        self._group = group
        self._locale = locale

    def translate(self, text: str) -> str:
        return gettext(text, locale=self._locale)

    def policy_name(self, policy: Policy) -> str:
        return self.translate(POLICY_NAMES[policy])

    def text(self, settings: ChatSettings) -> str:
        policy = self._store.policy_of(settings, self._group)
        text = self.translate(texts.SETTINGS_PANEL).format(policy=self.policy_name(policy))
        state = texts.STATE_ON if self._store.translates(settings) else texts.STATE_OFF
        text += "\n" + self.translate(texts.SETTINGS_TRANSLATE).format(state=self.translate(state))
        if not self._group:
            return text
        language = LANGUAGES.get(settings.language) or self.translate(texts.LANGUAGE_EACH)
        group = self.translate(texts.SETTINGS_GROUP).format(
            who=self.translate(texts.WHO_ADMINS if settings.admins_only else texts.WHO_ALL),
            rate=self._store.rate(settings),
            seconds=self._store.window_s,
            drawing=self.translate(texts.STATE_ON if settings.drawing else texts.STATE_OFF),
            language=language,
        )
        daily = self._store.daily(settings)
        group += "\n" + self.translate(texts.SETTINGS_DAILY).format(
            daily=daily or self.translate(texts.DAILY_NONE)
        )
        return f"{text}\n\n{group}"

    def keyboard(self, settings: ChatSettings) -> InlineKeyboardMarkup:
        policy = self._store.policy_of(settings, self._group)
        rows = [
            [
                self._button(f"{_POLICY_ICONS[p]} {self.policy_name(p)}", "safety", p, p == policy)
                for p in reversed(self._store.policies())
            ]
        ]
        translates = self._store.translates(settings)
        rows.append(
            [
                self._button(
                    self.translate(texts.BUTTON_TRANSLATE_ON), "translate", "on", translates
                ),
                self._button(
                    self.translate(texts.BUTTON_TRANSLATE_OFF), "translate", "off", not translates
                ),
            ]
        )
        if self._group:
            rows += self._group_rows(settings)
        return InlineKeyboardMarkup(inline_keyboard=rows)

    def _group_rows(self, settings: ChatSettings) -> list[list[InlineKeyboardButton]]:
        rate, seconds = self._store.rate(settings), self._store.window_s
        daily = self._store.daily(settings)
        return [
            [
                self._button(
                    self.translate(texts.BUTTON_WHO_ALL), "who", "all", not settings.admins_only
                ),
                self._button(
                    self.translate(texts.BUTTON_WHO_ADMINS), "who", "admins", settings.admins_only
                ),
            ],
            [
                self._button(
                    self.translate(texts.BUTTON_RATE).format(rate=choice, seconds=seconds),
                    "rate",
                    str(choice),
                    choice == rate,
                )
                for choice in self._store.rates
            ],
            [
                self._button(self._daily_label(choice), "daily", str(choice), choice == daily)
                for choice in self._store.dailies
            ],
            [
                self._button(
                    self.translate(texts.BUTTON_DRAWING_ON), "drawing", "on", settings.drawing
                ),
                self._button(
                    self.translate(texts.BUTTON_DRAWING_OFF),
                    "drawing",
                    "off",
                    not settings.drawing,
                ),
            ],
            [
                self._button(
                    self.translate(texts.BUTTON_LANGUAGE_EACH),
                    "lang",
                    "all",
                    not settings.language,
                ),
                *(
                    self._button(name, "lang", code, settings.language == code)
                    for code, name in LANGUAGES.items()
                ),
            ],
        ]

    def _daily_label(self, daily: int) -> str:
        if not daily:
            return self.translate(texts.BUTTON_DAILY_NONE)
        return self.translate(texts.BUTTON_DAILY).format(daily=daily)

    @staticmethod
    def _button(label: str, field: Field, value: str, chosen: bool) -> InlineKeyboardButton:
        data = SettingsButton(field=field, value=value).pack()
        return InlineKeyboardButton(text=CHOSEN + label if chosen else label, callback_data=data)
