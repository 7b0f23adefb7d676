"""Test-side creation of incoming updates: user messages, callback queries, inline queries."""

from __future__ import annotations

import copy
import itertools
from typing import Any

from .core import JSON
from .media import media_object, store_photo
from .objects import auto_entities, make_chat, make_user, now, without_reply
from .state import BotState

DEFAULT_USER_ID = 1001  # sender in group chats when the test does not pick one
MESSAGE_KINDS = ("message", "edited_message", "channel_post", "edited_channel_post")


class PushMixin:
    """Mixed into FakeBotAPI; everything here is thread-safe and callable from sync code."""

    state: BotState
    _query_ids = itertools.count(4_000_000_001)

    def push_update(self, update: JSON) -> JSON:
        """Enqueue an arbitrary update (``update_id`` is assigned when missing).

        Messages inside are stored in the chat history and callback/inline query ids become
        answerable, so raw updates behave like the ones made by the helpers below.
        """
        update = copy.deepcopy(update)
        with self.state.lock:
            for kind in MESSAGE_KINDS:
                message = update.get(kind)
                if isinstance(message, dict) and "chat" in message and "message_id" in message:
                    self.state.remember_chat(message["chat"])
                    self.state.replace_message(message["chat"]["id"], copy.deepcopy(message))
            for kind in ("callback_query", "inline_query"):
                if isinstance(update.get(kind), dict):
                    self.state.open_queries.add(str(update[kind]["id"]))
            return self.state.enqueue(update)

    def set_role(self, chat_id: int, user_id: int, status: str) -> None:
        """What getChatMember answers for the user in the chat: "creator", "administrator",
        "member" (the default), "left" or "kicked"."""
        with self.state.lock:
            self.state.roles[(chat_id, user_id)] = status

    def push_message(
        self,
        chat_id: int,
        text: str | None = None,
        *,
        user_id: int | None = None,
        first_name: str = "Test",
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "en",
        chat_type: str = "private",
        chat_title: str | None = None,
        entities: list[JSON] | None = None,
        photo: bytes | None = None,
        caption: str | None = None,
        document: bytes | None = None,
        file_name: str = "file.bin",
        sticker: bool = False,
        reply_to_message_id: int | None = None,
        message_thread_id: int | None = None,
        extra: JSON | None = None,
    ) -> JSON:
        """A message from a user (or a channel post) as an update; returns the Message.

        Like Telegram, ``bot_command``/``mention``/``url`` entities are added automatically
        unless ``entities`` is given. In private chats the user id defaults to the chat id.
        """
        if user_id is None:
            user_id = chat_id if chat_type == "private" else DEFAULT_USER_ID
        user = make_user(
            user_id,
            first_name,
            username=username,
            last_name=last_name,
            language_code=language_code,
        )
        with self.state.lock:
            known = self.state.chats.get(chat_id, {})
            chat = make_chat(chat_id, chat_type, title=chat_title or known.get("title"), user=user)
            self.state.remember_chat({**known, **chat})
            message: JSON = {"date": now(), "chat": chat}
            if chat_type == "channel":
                message["sender_chat"] = chat
            else:
                message["from"] = user
            message.update(self._content(text, entities, photo, caption, document, file_name))
            if sticker:
                message["sticker"] = self._sticker()
            if reply_to_message_id is not None:
                target = self.state.get_message(chat_id, reply_to_message_id)
                if target is None:
                    raise ValueError(f"no message {reply_to_message_id} in chat {chat_id}")
                message["reply_to_message"] = without_reply(target)
            if message_thread_id is not None:
                message.update(message_thread_id=message_thread_id, is_topic_message=True)
            message.update(extra or {})
            stored = self.state.add_message(chat_id, message)
            kind = "channel_post" if chat_type == "channel" else "message"
            self.state.enqueue({kind: copy.deepcopy(stored)})
            return copy.deepcopy(stored)

    def edit_message(self, chat_id: int, message_id: int, new_text: str) -> JSON:
        """A user edits their message: its text (or a media message's caption) becomes
        ``new_text``; returns the ``edited_message`` update, as the bot will receive it."""
        with self.state.lock:
            message = self.state.get_message(chat_id, message_id)
            if message is None:
                raise ValueError(f"no message {message_id} in chat {chat_id}")
            if message.get("from", {}).get("is_bot"):
                raise ValueError("users edit their own messages, not the bot's")
            field = "text" if "text" in message else "caption"
            entities = "entities" if field == "text" else "caption_entities"
            message[field] = new_text
            message.pop(entities, None)
            if found := auto_entities(new_text):
                message[entities] = found
            message["edit_date"] = now()
            self.state.changed.notify_all()
            return self.state.enqueue({"edited_message": copy.deepcopy(message)})

    def _content(
        self,
        text: str | None,
        entities: list[JSON] | None,
        photo: bytes | None,
        caption: str | None,
        document: bytes | None,
        file_name: str,
    ) -> JSON:
        content: JSON = {}
        if text is not None:
            content["text"] = text
            found = auto_entities(text) if entities is None else entities
            if found:
                content["entities"] = found
        if photo is not None:
            content["photo"] = store_photo(self.state, photo)
        if document is not None:
            stored = self.state.add_file(document, kind="document", file_name=file_name)
            content["document"] = media_object(stored, "document", {})
        if caption is not None:
            content["caption"] = caption
            if found := auto_entities(caption):
                content["caption_entities"] = found
        return content

    def _sticker(self) -> JSON:
        stored = self.state.add_file(
            b"RIFF\x00\x00\x00\x00WEBP", kind="sticker", extension=".webp"
        )
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": "\N{SLIGHTLY SMILING FACE}",
        }

    def push_callback_query(
        self,
        chat_id: int,
        message_id: int,
        data: str,
        *,
        user_id: int | None = None,
        first_name: str = "Test",
        username: str | None = None,
        language_code: str | None = "en",
    ) -> JSON:
        """A press on an inline button of a stored message; returns the CallbackQuery."""
        with self.state.lock:
            message = self.state.get_message(chat_id, message_id)
            if message is None:
                raise ValueError(f"no message {message_id} in chat {chat_id}")
            if user_id is None:
                user_id = chat_id if message["chat"]["type"] == "private" else DEFAULT_USER_ID
            query: JSON = {
                "id": str(next(self._query_ids)),
                "from": make_user(
                    user_id, first_name, username=username, language_code=language_code
                ),
                "chat_instance": str(abs(chat_id) * 7919),
                "message": copy.deepcopy(message),
                "data": data,
            }
            self.push_update({"callback_query": query})
            return query

    def push_ephemeral_callback(
        self, chat_id: int, ephemeral_message_id: int, data: str, *, user_id: int
    ) -> JSON:
        """A press on a button of an ephemeral message, by its receiver (nobody else sees it)."""
        with self.state.lock:
            message = self.state.ephemeral.get((chat_id, ephemeral_message_id))
            if message is None or message["receiver_user"]["id"] != user_id:
                raise ValueError(
                    f"member {user_id} sees no ephemeral message {ephemeral_message_id}"
                )
            query: JSON = {
                "id": str(next(self._query_ids)),
                "from": make_user(user_id, "Test", language_code="en"),
                "chat_instance": str(abs(chat_id) * 7919),
                "message": copy.deepcopy(message),
                "data": data,
            }
            self.push_update({"callback_query": query})
            return query

    def push_inline_query(
        self,
        query: str,
        *,
        user_id: int = DEFAULT_USER_ID,
        first_name: str = "Test",
        offset: str = "",
        chat_type: str | None = "private",
        **extra: Any,
    ) -> JSON:
        """An inline query typed by a user; returns the InlineQuery."""
        inline: JSON = {
            "id": str(next(self._query_ids)),
            "from": make_user(user_id, first_name, language_code="en"),
            "query": query,
            "offset": offset,
            **({"chat_type": chat_type} if chat_type else {}),
            **extra,
        }
        self.push_update({"inline_query": inline})
        return inline
