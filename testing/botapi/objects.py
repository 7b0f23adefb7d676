"""Builders for Bot API objects (User, Chat, MessageEntity) in Telegram's exact JSON shape."""

from __future__ import annotations

import re
import time

from .core import JSON

# Telegram detects these in incoming text; bots (and aiogram filters) rely on the entities.
_COMMAND = re.compile(r"(?<![\w/@])/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?")
_MENTION = re.compile(r"(?<![\w/@])@[A-Za-z0-9_]{4,32}")
_URL = re.compile(r"(?<![\w@])https?://[^\s<>\"]+")


def now() -> int:
    return int(time.time())


def utf16_len(text: str) -> int:
    """Entity offsets and lengths are counted in UTF-16 code units, not code points."""
    return len(text.encode("utf-16-le")) // 2


def compact(obj: JSON) -> JSON:
    """Drop ``None`` fields: Telegram omits absent optional fields instead of sending null."""
    return {key: value for key, value in obj.items() if value is not None}


def make_user(
    user_id: int,
    first_name: str,
    *,
    username: str | None = None,
    last_name: str | None = None,
    language_code: str | None = None,
    is_bot: bool = False,
) -> JSON:
    return compact(
        {
            "id": user_id,
            "is_bot": is_bot,
            "first_name": first_name,
            "last_name": last_name,
            "username": username,
            "language_code": language_code,
        }
    )


def make_bot_user(bot_id: int, first_name: str, username: str) -> JSON:
    return make_user(bot_id, first_name, username=username, is_bot=True)


def make_me(bot_user: JSON) -> JSON:
    """The getMe answer: the bot user plus the capability flags only getMe reports."""
    return {
        **bot_user,
        "can_join_groups": True,
        "can_read_all_group_messages": False,
        "supports_inline_queries": True,
        "can_connect_to_business": False,
        "has_main_web_app": False,
    }


def make_chat(
    chat_id: int,
    chat_type: str,
    *,
    title: str | None = None,
    user: JSON | None = None,
) -> JSON:
    """A Chat: private chats mirror the user's names, other chats carry a title."""
    if chat_type == "private":
        user = user or {}
        return compact(
            {
                "id": chat_id,
                "type": "private",
                "first_name": user.get("first_name", "User"),
                "last_name": user.get("last_name"),
                "username": user.get("username"),
            }
        )
    return {"id": chat_id, "type": chat_type, "title": title or f"Chat {chat_id}"}


_ADMIN_RIGHTS = (
    "can_manage_chat",
    "can_delete_messages",
    "can_manage_video_chats",
    "can_restrict_members",
    "can_promote_members",
    "can_change_info",
    "can_invite_users",
    "can_post_stories",
    "can_edit_stories",
    "can_delete_stories",
    "can_send_welcome_messages",
)


def make_chat_member(user_id: int, status: str) -> JSON:
    """A ChatMember of the given status: "creator", "administrator", "member", "left", "kicked"."""
    member: JSON = {"status": status, "user": make_user(user_id, "User")}
    if status == "creator":
        member["is_anonymous"] = False
    elif status == "administrator":
        member.update(dict.fromkeys(_ADMIN_RIGHTS, True), can_be_edited=False, is_anonymous=False)
    elif status == "kicked":
        member["until_date"] = 0
    return member


def make_chat_full_info(chat: JSON) -> JSON:
    """getChat answer; aiogram 3.31 requires these ChatFullInfo fields to be present."""
    gifts = ("unlimited_gifts", "limited_gifts", "unique_gifts", "premium_subscription")
    return {
        **chat,
        "accent_color_id": 0,
        "max_reaction_count": 11,
        "accepted_gift_types": {**dict.fromkeys(gifts, False), "gifts_from_channels": False},
    }


def auto_entities(text: str) -> list[JSON]:
    """bot_command / mention / url entities, as Telegram adds them to incoming messages."""
    found: list[JSON] = []
    for kind, pattern in (("bot_command", _COMMAND), ("mention", _MENTION), ("url", _URL)):
        for match in pattern.finditer(text):
            found.append(
                {
                    "type": kind,
                    "offset": utf16_len(text[: match.start()]),
                    "length": utf16_len(match.group()),
                }
            )
    return sorted(found, key=lambda entity: int(entity["offset"]))


def without_reply(message: JSON) -> JSON:
    """A message as embedded in ``reply_to_message``: Telegram never nests replies deeper."""
    return {key: value for key, value in message.items() if key != "reply_to_message"}
