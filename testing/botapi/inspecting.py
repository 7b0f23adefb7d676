"""Test-side inspection and scripting: recorded calls, waits, chat history, fault injection."""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Callable
from typing import TypeVar

from .core import DEFAULT_DESCRIPTIONS, JSON, Call, Fault
from .state import BotState

T = TypeVar("T")
CallPredicate = Callable[[Call], bool]

# Long polls are bookkeeping noise when a test asks "what did the bot send?".
POLLING_METHODS = frozenset({"getUpdates"})


def _matcher(predicate: str | CallPredicate) -> CallPredicate:
    if isinstance(predicate, str):
        return lambda call: call.method == predicate
    return predicate


class InspectMixin:
    """Mixed into FakeBotAPI; thread-safe. In async tests use the ``async_*`` waits, since
    the sync ones block the calling thread (and so a bot running on the test's loop)."""

    state: BotState

    @property
    def calls(self) -> list[Call]:
        """Snapshot of every call so far, in arrival order (unanswered ones included)."""
        with self.state.lock:
            return list(self.state.calls)

    def sent(self, chat_id: int | str | None = None, method: str | None = None) -> list[Call]:
        """Answered calls except getUpdates, optionally only for one chat and/or method."""
        with self.state.lock:
            return [
                call
                for call in self.state.calls
                if call.answered
                and call.method not in POLLING_METHODS
                and (method is None or call.method == method)
                and (chat_id is None or call.chat_id == chat_id)
            ]

    def refuse_ephemeral(self, refuse: bool = True) -> None:
        """Answer ephemeral parameters and methods with a 400, as a server older than 10.2."""
        with self.state.lock:
            self.state.ephemeral_refused = refuse

    def ignore_ephemeral(self, ignore: bool = True) -> None:
        """Drop ephemeral parameters and post the message openly, as a server that does not
        know them does."""
        with self.state.lock:
            self.state.ephemeral_ignored = ignore

    def ephemeral_for(self, chat_id: int, user_id: int) -> list[JSON]:
        """The ephemeral messages the member sees in the chat now, oldest first."""
        with self.state.lock:
            return [
                copy.deepcopy(message)
                for (chat, _), message in sorted(self.state.ephemeral.items())
                if chat == chat_id and message["receiver_user"]["id"] == user_id
            ]

    def reaction(self, chat_id: int, message_id: int) -> list[str]:
        """The bot's reaction on a message now ([] when none or cleared)."""
        with self.state.lock:
            return list(self.state.reactions.get((chat_id, message_id), []))

    def _wait(self, check: Callable[[], T | None], timeout: float, what: str) -> T:
        deadline = time.monotonic() + timeout
        with self.state.changed:
            while (found := check()) is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    calls = self.state.calls
                    seen = [
                        f"{c.method}->{c.status}" for c in calls if c.method not in POLLING_METHODS
                    ]
                    polls = len(calls) - len(seen)
                    raise TimeoutError(
                        f"timed out after {timeout}s waiting for {what}; "
                        f"calls besides {polls} getUpdates: {seen}"
                    )
                # Short slices keep the wait responsive even if a notify is ever missed.
                self.state.changed.wait(min(remaining, 0.1))
            return found

    def wait_for(
        self, predicate: str | CallPredicate, timeout: float = 10.0, *, start: int = 0
    ) -> Call:
        """First answered call from index ``start`` on matching a method name or predicate."""
        match = _matcher(predicate)

        def check() -> Call | None:
            calls = self.state.calls[start:]
            return next((c for c in calls if c.answered and match(c)), None)

        return self._wait(check, timeout, f"a call matching {predicate!r}")

    def wait_for_reply(
        self, chat_id: int, message_id: int, method: str | None = None, timeout: float = 60.0
    ) -> Call:
        """The bot's first answer (of kind ``method``, if given) replying to ``message_id``;
        for an album, its first message replies."""

        def replies(call: Call) -> bool:
            if not call.ok or call.chat_id != chat_id or method not in (None, call.method):
                return False
            first = call.result[0] if isinstance(call.result, list) else call.result
            reply = first.get("reply_to_message", {}) if isinstance(first, dict) else {}
            return bool(reply.get("message_id") == message_id)

        return self.wait_for(replies, timeout)

    def wait_for_calls(
        self, method: str, count: int = 1, timeout: float = 10.0, *, chat_id: int | None = None
    ) -> list[Call]:
        """Wait until at least ``count`` answered ``method`` calls exist; return them all."""

        def check() -> list[Call] | None:
            found = self.sent(chat_id=chat_id, method=method)
            return found if len(found) >= count else None

        return self._wait(check, timeout, f"{count} x {method}")

    def wait_until(self, condition: Callable[[], bool], timeout: float = 10.0) -> None:
        """Wait for any condition over the fake's state (re-checked on every change)."""
        self._wait(lambda: True if condition() else None, timeout, "condition")

    # The ``timeout`` parameters below (ASYNC109) are deliberate: the wait runs in a worker
    # thread that cancellation cannot interrupt, so the deadline has to travel with it.
    async def async_wait_for(
        self,
        predicate: str | CallPredicate,
        timeout: float = 10.0,  # noqa: ASYNC109
        *,
        start: int = 0,
    ) -> Call:
        return await asyncio.to_thread(self.wait_for, predicate, timeout, start=start)

    async def async_wait_for_calls(
        self,
        method: str,
        count: int = 1,
        timeout: float = 10.0,  # noqa: ASYNC109
        *,
        chat_id: int | None = None,
    ) -> list[Call]:
        return await asyncio.to_thread(
            self.wait_for_calls, method, count, timeout, chat_id=chat_id
        )

    async def async_wait_until(
        self,
        condition: Callable[[], bool],
        timeout: float = 10.0,  # noqa: ASYNC109
    ) -> None:
        await asyncio.to_thread(self.wait_until, condition, timeout)

    def messages(self, chat_id: int) -> list[JSON]:
        """The chat history (user and bot messages), oldest first, as deep copies."""
        return self.state.messages(chat_id)

    def message(self, chat_id: int, message_id: int) -> JSON | None:
        with self.state.lock:
            return copy.deepcopy(self.state.get_message(chat_id, message_id))

    def file_bytes(self, file_id: str) -> bytes:
        """Content behind a file_id (uploaded by the bot or pushed by a test)."""
        with self.state.lock:
            return self.state.files[file_id].data

    def add_file(self, data: bytes, *, file_name: str = "file.bin") -> str:
        """Store a document the bot can then send or download by file_id; returns the id."""
        return self.state.add_file(data, kind="document", file_name=file_name).file_id

    def fail_next(
        self,
        method: str,
        *,
        status: int | None = 500,
        description: str | None = None,
        retry_after: int | None = None,
        count: int = 1,
        delay: float = 0.0,
    ) -> Fault:
        """Answer the next ``count`` calls of ``method`` with an error after ``delay`` seconds.

        ``description`` defaults to Telegram's text for ``status``; 429 defaults
        ``retry_after`` to 1 (sent as ``parameters.retry_after``). ``status=None`` with a
        ``delay`` gives slow but successful answers.
        """
        if status == 429 and retry_after is None:
            retry_after = 1
        if description is None:
            template = DEFAULT_DESCRIPTIONS.get(status or 0, f"Error {status}")
            description = template.format(retry_after=retry_after)
        fault = Fault(method, status, description, retry_after, count, delay)
        with self.state.lock:
            self.state.faults.append(fault)
        return fault

    def reset(self, *, history: bool = True) -> None:
        """Forget calls, faults, pending updates (and chat history unless ``history=False``).

        Update and message ids keep growing, so a bot that keeps polling is not confused.
        """
        self.state.reset(history=history)
