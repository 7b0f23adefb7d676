"""Russian and English: gettext catalogs compiled at start, locale chosen per user."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from aiogram.types import Chat, TelegramObject, User
from aiogram.utils.i18n import I18n, I18nMiddleware
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from redis.exceptions import RedisError

from bot.shared.languages import LANGUAGES
from bot.shared.origin import GROUPS, sender_id

if TYPE_CHECKING:
    from bot.community.chat_settings import ChatSettingsStore
    from bot.community.control import Community

SOURCE_DIR: Final = Path(__file__).parent / "locales"
DOMAIN: Final = "messages"


def compile_catalogs(source: Path = SOURCE_DIR) -> Path:
    """Compile every `.po` into a fresh directory; the package itself may be read-only."""
    target = Path(tempfile.mkdtemp(prefix="imagine-locales-"))
    for po_path in source.glob(f"*/LC_MESSAGES/{DOMAIN}.po"):
        locale = po_path.parent.parent.name
        with po_path.open("rb") as po_file:
            catalog = read_po(po_file, locale=locale)
        mo_path = target / locale / "LC_MESSAGES" / f"{DOMAIN}.mo"
        mo_path.parent.mkdir(parents=True)
        with mo_path.open("wb") as mo_file:
            write_mo(mo_file, catalog)
    # English is the message id itself and needs no catalog, only a directory.
    (target / "en" / "LC_MESSAGES").mkdir(parents=True, exist_ok=True)
    return target


def build_i18n(default_locale: str = "en") -> I18n:
    return I18n(path=compile_catalogs(), default_locale=default_locale, domain=DOMAIN)


def locale_for(language_code: str | None, default: str) -> str:
    """Telegram's language_code ("ru", "ru-RU", "en-GB") mapped to a supported locale."""
    base = (language_code or "").split("-")[0].lower()
    return base if base in LANGUAGES else default


class UserLocaleMiddleware(I18nMiddleware):
    """In a group whose admins chose a language, that one; elsewhere a language picked with
    /language wins; otherwise the user's Telegram language."""

    async def get_locale(self, event: TelegramObject, data: dict[str, Any]) -> str:
        chat: Chat | None = data.get("event_chat")
        if chat is not None and chat.type in GROUPS:
            group_language = await _group_language(data["chat_settings"], chat.id)
            if group_language in LANGUAGES:
                return group_language
        user: User | None = data.get("event_from_user")
        sender = sender_id(event, user)
        if user is None or sender is None:
            return self.i18n.default_locale
        community: Community = data["community"]
        try:
            chosen = await community.locale(sender)
        except RedisError:
            # Redis down: the user still gets "temporarily unavailable", in their language.
            chosen = None
        if chosen in LANGUAGES:
            return chosen
        return locale_for(user.language_code, self.i18n.default_locale)


async def _group_language(chats: ChatSettingsStore, chat_id: int) -> str:
    try:
        return (await chats.get(chat_id)).language
    except RedisError:
        return ""  # as for a user's choice: Redis down, Telegram's language it is
