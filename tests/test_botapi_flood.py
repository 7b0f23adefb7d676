"""The test Bot API's flood control, checked against Telegram's published rules on a clock the
test moves: about one message a second in a chat after a short burst, 20 a minute in a group,
about 30 a second in all, an album's items counted one by one."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from testing.botapi import flood
from testing.botapi.core import ApiError
from testing.botapi.flood import Flood, FloodGate
from testing.botapi.state import BotState

USER, GROUP = 501, -100_501


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    moved = Clock()
    monkeypatch.setattr(flood, "time", SimpleNamespace(monotonic=moved))
    return moved


def gate(**limits: float) -> FloodGate:
    return FloodGate(Flood(**limits), BotState())  # type: ignore[arg-type]


def refused(gate: FloodGate, method: str, chat: int | str, **params: object) -> int | None:
    """None when the call went, else the `retry_after` of its 429."""
    try:
        gate.check(method, {"chat_id": chat, **params})
    except ApiError as exc:
        assert exc.status == 429
        assert exc.parameters is not None
        retry_after = exc.parameters["retry_after"]
        assert isinstance(retry_after, int)
        return retry_after
    return None


def album(items: int) -> str:
    return json.dumps([{"type": "photo", "media": f"attach://p{n}"} for n in range(items)])


def test_one_chat_gets_a_short_burst_then_one_a_second(clock: Clock) -> None:
    limits = gate()
    assert [refused(limits, "sendMessage", USER) for _ in range(3)] == [None] * 3
    assert refused(limits, "sendPhoto", USER) == 1
    clock.now += 0.5
    assert refused(limits, "sendMessage", USER) == 1  # half a message's worth back
    clock.now += 0.5
    assert refused(limits, "editMessageText", USER) is None  # an edit is a message too
    assert refused(limits, "sendMessage", USER) == 1
    # Another chat is not held by this one.
    assert refused(limits, "sendMessage", USER + 1) is None


def test_what_shows_no_message_is_never_counted(clock: Clock) -> None:
    limits = gate(chat_burst=1)
    for method in ("sendChatAction", "answerCallbackQuery", "deleteMessage", "getMe"):
        for _ in range(5):
            assert refused(limits, method, USER) is None
    assert refused(limits, "sendMessage", USER) is None
    assert refused(limits, "sendMessage", USER) == 1


def test_a_refused_call_counts_nothing(clock: Clock) -> None:
    limits = gate(chat_burst=1)
    assert refused(limits, "sendMessage", USER) is None
    for _ in range(10):
        assert refused(limits, "sendMessage", USER) == 1
    clock.now += 1.0
    assert refused(limits, "sendMessage", USER) is None


def test_a_group_takes_20_a_minute_however_they_are_spread(clock: Clock) -> None:
    limits = gate()
    for _ in range(20):
        assert refused(limits, "sendMessage", GROUP) is None
        clock.now += 2.0  # slower than the chat's one a second: only the minute binds
    # The first of the twenty went 40 s ago: the 21st waits out the other 20 s.
    assert refused(limits, "sendMessage", GROUP) == 20
    clock.now += 20.0
    assert refused(limits, "sendMessage", GROUP) is None


def test_a_private_chat_has_no_minute_limit(clock: Clock) -> None:
    limits = gate()
    for _ in range(40):
        assert refused(limits, "sendMessage", USER) is None
        clock.now += 1.0


def test_the_server_knows_a_group_by_its_type_not_only_its_id(clock: Clock) -> None:
    limits = gate(group_per_min=2, chat_burst=10)
    limits.state.remember_chat({"id": -42, "type": "private", "first_name": "odd"})
    limits.state.remember_chat({"id": -43, "type": "channel", "title": "news"})
    limits.state.remember_chat({"id": -44, "type": "channel", "title": "c", "username": "pics"})
    for _ in range(3):
        assert refused(limits, "sendMessage", -42) is None
    assert [refused(limits, "sendMessage", -43) for _ in range(3)] == [None, None, 60]
    assert [refused(limits, "sendMessage", "@pics") for _ in range(3)] == [None, None, 60]


def test_all_chats_together_get_about_30_a_second(clock: Clock) -> None:
    limits = gate()
    assert [refused(limits, "sendMessage", USER + n) for n in range(30)] == [None] * 30
    assert refused(limits, "sendMessage", USER + 30) == 1
    clock.now += 1.0
    assert refused(limits, "sendMessage", USER + 30) is None


def test_each_item_of_an_album_is_a_message(clock: Clock) -> None:
    limits = gate()
    # Three fit a full bucket at once; a fourth message right after does not.
    assert refused(limits, "sendMediaGroup", USER, media=album(3)) is None
    assert refused(limits, "sendMessage", USER) == 1
    # In a group, an album of 10 after 15 messages (one a second) waits until the first five
    # are a minute old: the fifth went at 4 s, so until 64 s, 49 s from now.
    limits = gate(chat_burst=100)
    for _ in range(15):
        assert refused(limits, "sendMessage", GROUP) is None
        clock.now += 1.0
    assert refused(limits, "sendMediaGroup", GROUP, media=album(10)) == 49
    clock.now += 49.0
    assert refused(limits, "sendMediaGroup", GROUP, media=album(10)) is None
    assert refused(limits, "sendMessage", GROUP) is not None


def test_an_album_bigger_than_a_burst_goes_once_the_chat_is_rested_and_leaves_it_owing(
    clock: Clock,
) -> None:
    limits = gate()
    assert refused(limits, "sendMessage", USER) is None
    assert refused(limits, "sendMediaGroup", USER, media=album(5)) == 1  # bucket not full
    clock.now += 1.0
    assert refused(limits, "sendMediaGroup", USER, media=album(5)) is None
    # Five taken from three: two owed, so the next message waits three seconds.
    assert refused(limits, "sendMessage", USER) == 3
    clock.now += 3.0
    assert refused(limits, "sendMessage", USER) is None
    assert refused(limits, "copyMessages", USER, message_ids="[1, 2]") is not None
