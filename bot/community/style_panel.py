"""The /style panel: a chat's default style as text and a button per style.

Each button carries only `sty:<key>` (validated again by `ChatSettingsStore.change`), and the
panel is drawn from what is stored, like the /settings panel. In a private chat it is the
user's own style (it also applies in groups that never chose one); in a group, its admins'.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.i18n import gettext

from bot import texts
from bot.community.settings_panel import CHOSEN

if TYPE_CHECKING:
    from bot.community.chat_settings import ChatSettings, ChatSettingsStore

NONE = "none"
PER_ROW = 4


class StyleButton(CallbackData, prefix="sty"):
    key: str


class StylePanel:
    def __init__(self, store: ChatSettingsStore, group: bool, locale: str) -> None:
        self._store = store
        self._group = group
        self._locale = locale

    def text(self, settings: ChatSettings) -> str:
        chosen = self._store.styles.get(settings.style)
        name = (
            chosen.name(self._locale) if chosen else gettext(texts.STYLE_NONE, locale=self._locale)
        )
        panel = texts.STYLE_PANEL_GROUP if self._group else texts.STYLE_PANEL_PRIVATE
        return gettext(panel, locale=self._locale).format(style=name)

    def keyboard(self, settings: ChatSettings) -> InlineKeyboardMarkup:
        chosen = settings.style if self._store.styles.get(settings.style) else NONE
        buttons = [
            self._button(style.name(self._locale), style.key, style.key == chosen)
            for style in self._store.styles.all
        ]
        none = gettext(texts.BUTTON_STYLE_NONE, locale=self._locale)
        buttons.append(self._button(none, NONE, chosen == NONE))
        rows = [buttons[i : i + PER_ROW] for i in range(0, len(buttons), PER_ROW)]
        return InlineKeyboardMarkup(inline_keyboard=rows)

    @staticmethod
    def _button(label: str, key: str, chosen: bool) -> InlineKeyboardButton:
        data = StyleButton(key=key).pack()
        return InlineKeyboardButton(text=CHOSEN + label if chosen else label, callback_data=data)
