"""Thread-safe storage behind the fake Bot API: chats, messages, files, updates, calls, faults.

The HTTP handlers run on the server's own event loop thread while tests poke the state from
their thread, so every access goes through one re-entrant lock. The condition built on it is
notified on every change, which is what the tests' ``wait_for`` helpers block on.
"""

from __future__ import annotations

import copy
import itertools
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass

from .core import JSON, Call, Fault
from .webhook import Delivery, Webhook

# Telegram only sends these when a bot asks for them explicitly in allowed_updates.
OPT_IN_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})


@dataclass(frozen=True)
class StoredFile:
    file_id: str
    file_unique_id: str
    file_path: str
    data: bytes
    kind: str
    file_name: str | None = None
    mime_type: str | None = None


def update_type(update: JSON) -> str:
    return next((key for key in update if key != "update_id"), "")


class BotState:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        # Set by the server: wakes long polls on its loop (safe to call from any thread).
        self.wake_pollers: Callable[[], None] = lambda: None
        # Ids only ever grow, even across reset(), so a bot that is still running with an old
        # getUpdates offset never silently drops new updates.
        self._update_ids = itertools.count(1)
        self._file_seq = itertools.count(1)
        self.last_message_id: dict[int, int] = {}
        self.files: dict[str, StoredFile] = {}
        self.photo_sets: dict[str, list[JSON]] = {}
        self.calls: list[Call] = []
        self.faults: list[Fault] = []
        self.updates: list[JSON] = []
        self.open_queries: set[str] = set()
        self.allowed_updates: list[str] = []
        self.poll_generation = 0
        self.chats: dict[int, JSON] = {}
        self.history: dict[int, list[JSON]] = {}
        # (chat id, user id) -> getChatMember status, as a test set it.
        self.roles: dict[tuple[int, int], str] = {}
        self.webhook = Webhook()
        self.deliveries: list[Delivery] = []
        # Ephemeral messages by (chat id, ephemeral message id), apart from the history; the
        # bot's reaction on each (chat id, message id); a server older than Bot API 10.2.
        self.ephemeral: dict[tuple[int, int], JSON] = {}
        self.ephemeral_seq = 0
        self.ephemeral_refused = False
        # A server that knows nothing of them: the parameter is dropped, the message is public.
        self.ephemeral_ignored = False
        self.reactions: dict[tuple[int, int], list[str]] = {}

    def reset(self, *, history: bool = True) -> None:
        with self.lock:
            self.calls = []
            self.faults = []
            self.updates = []
            self.open_queries = set()
            self.allowed_updates = []
            self.webhook = Webhook()
            self.deliveries = []
            if history:
                self.chats, self.history, self.roles = {}, {}, {}
                self.ephemeral, self.reactions = {}, {}
            self.changed.notify_all()
        self.wake_pollers()

    # -- chats and messages -------------------------------------------------------------------

    def remember_chat(self, chat: JSON) -> JSON:
        with self.lock:
            self.chats[int(chat["id"])] = chat
            return chat

    def chat(self, chat_id: int) -> JSON:
        """The chat object for ``chat_id``; unknown chats are created on the fly."""
        with self.lock:
            if chat_id not in self.chats:
                if chat_id > 0:
                    chat: JSON = {"id": chat_id, "type": "private", "first_name": "User"}
                else:
                    kind = "supergroup" if str(chat_id).startswith("-100") else "group"
                    chat = {"id": chat_id, "type": kind, "title": f"Chat {chat_id}"}
                self.chats[chat_id] = chat
            return self.chats[chat_id]

    def chat_by_username(self, username: str) -> JSON | None:
        with self.lock:
            wanted = username.lower()
            found = (
                c for c in self.chats.values() if str(c.get("username", "")).lower() == wanted
            )
            return next(found, None)

    def add_message(self, chat_id: int, message: JSON) -> JSON:
        """Store ``message`` in the chat, numbering it unless it already carries an id."""
        with self.lock:
            if "message_id" not in message:
                message["message_id"] = self.last_message_id.get(chat_id, 0) + 1
            message_id = int(message["message_id"])
            self.last_message_id[chat_id] = max(self.last_message_id.get(chat_id, 0), message_id)
            self.history.setdefault(chat_id, []).append(message)
            self.changed.notify_all()
            return message

    def get_message(self, chat_id: int, message_id: int) -> JSON | None:
        with self.lock:
            found = (m for m in self.history.get(chat_id, []) if m["message_id"] == message_id)
            return next(found, None)

    def replace_message(self, chat_id: int, message: JSON) -> None:
        with self.lock:
            chat = self.history.setdefault(chat_id, [])
            ids = [m["message_id"] for m in chat]
            if message["message_id"] in ids:
                chat[ids.index(message["message_id"])] = message
            else:
                self.add_message(chat_id, message)
            self.changed.notify_all()

    def delete_message(self, chat_id: int, message_id: int) -> bool:
        with self.lock:
            chat = self.history.get(chat_id, [])
            kept = [m for m in chat if m["message_id"] != message_id]
            self.history[chat_id] = kept
            self.changed.notify_all()
            return len(kept) != len(chat)

    def messages(self, chat_id: int) -> list[JSON]:
        with self.lock:
            return copy.deepcopy(self.history.get(chat_id, []))

    # -- files --------------------------------------------------------------------------------

    def add_file(
        self,
        data: bytes,
        *,
        kind: str,
        extension: str = "",
        file_name: str | None = None,
        mime_type: str | None = None,
    ) -> StoredFile:
        with self.lock:
            number = next(self._file_seq)
            stored = StoredFile(
                file_id=f"{kind}-{number}-{secrets.token_urlsafe(8)}",
                file_unique_id=f"u{kind[:3]}{number}",
                file_path=f"{kind}s/file_{number}{extension}",
                data=data,
                kind=kind,
                file_name=file_name,
                mime_type=mime_type,
            )
            self.files[stored.file_id] = stored
            return stored

    def file_by_path(self, path: str) -> StoredFile | None:
        with self.lock:
            return next((f for f in self.files.values() if f.file_path == path), None)

    # -- updates ------------------------------------------------------------------------------

    def enqueue(self, update: JSON) -> JSON:
        with self.lock:
            if "update_id" not in update:
                update = {"update_id": next(self._update_ids), **update}
            self.updates.append(update)
            self.changed.notify_all()
        self.wake_pollers()
        return update

    def take_updates(self, offset: int, limit: int) -> list[JSON]:
        """getUpdates semantics: ``offset`` confirms (drops) everything before it."""
        with self.lock:
            if offset > 0:
                self.updates = [u for u in self.updates if u["update_id"] >= offset]
            elif offset < 0:
                self.updates = self.updates[offset:]
            # Update kinds the bot did not subscribe to are dropped, as Telegram never
            # creates them for such a bot in the first place.
            self.updates = [u for u in self.updates if self.is_allowed(update_type(u))]
            return copy.deepcopy(self.updates[:limit])

    def is_allowed(self, kind: str) -> bool:
        if not self.allowed_updates:
            return kind not in OPT_IN_UPDATES
        return kind in self.allowed_updates

    # -- calls and faults ---------------------------------------------------------------------

    def record(self, call: Call) -> Call:
        with self.lock:
            self.calls.append(call)
            self.changed.notify_all()
            return call

    def answer(self, call: Call, status: int, response: JSON) -> None:
        with self.lock:
            call.status, call.response = status, response
            self.changed.notify_all()

    def take_fault(self, method: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.method.lower() == method.lower() and fault.remaining > 0:
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self.faults.remove(fault)
                    return fault
            return None
