"""Fair use end to end: limits, queue feedback, admins, allow-lists, notices, languages."""

from __future__ import annotations

import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import redis
from rq import Queue, SimpleWorker
from rq.serializers import JSONSerializer

from bot.requests.fairuse import SHORTCUT_S
from testing.faults import wait_handled
from tests.conftest import BOT_USERNAME, Stack

if TYPE_CHECKING:
    from testing.botapi import Call, FakeBotAPI

ADMIN = 900


@pytest.fixture(scope="module")
def fair(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("fair")
    blocklist = workdir / "blocklist.txt"
    blocklist.write_text("forbidden\nre:\\bgore\\w*\n", encoding="utf-8")
    running = Stack(workdir, tiny_model, admin_ids=str(ADMIN), blocklist_file=str(blocklist))
    yield running
    running.close()


def _calls(botapi: FakeBotAPI, chat_id: int, method: str) -> list[Call]:
    return [c for c in botapi.calls if c.chat_id == chat_id and c.method == method and c.ok]


def _texts(botapi: FakeBotAPI, chat_id: int) -> list[str]:
    return [c.result["text"] for c in _calls(botapi, chat_id, "sendMessage")]


def _say(botapi: FakeBotAPI, chat_id: int, text: str, **kwargs: Any) -> str:
    """Send `text` and return the bot's next text answer in that chat."""
    before = len(_calls(botapi, chat_id, "sendMessage"))
    botapi.push_message(chat_id, text, **kwargs)
    botapi.wait_until(lambda: len(_calls(botapi, chat_id, "sendMessage")) > before, timeout=20)
    return _texts(botapi, chat_id)[before]


def _settle(botapi: FakeBotAPI, chat_id: int) -> int:
    """Wait until every accepted request (one chat action each) has its photo."""
    botapi.wait_until(
        lambda: (
            len(_calls(botapi, chat_id, "sendPhoto"))
            == len(_calls(botapi, chat_id, "sendChatAction"))
        ),
        timeout=90,
    )
    return len(_calls(botapi, chat_id, "sendPhoto"))


def test_spam_from_one_user_is_capped_while_another_user_is_served(fair: Stack) -> None:
    botapi = fair.botapi
    spammer, other = 2001, 2002
    started = time.monotonic()
    for i in range(30):
        botapi.push_message(spammer, f"/imagine spam {i}")
        if i == 15:
            botapi.push_message(other, "/imagine a quiet lake")
        time.sleep(2 / 30)
    assert time.monotonic() - started < 2.5
    photos = _settle(botapi, spammer)
    assert 1 <= photos <= 10
    refusals = [
        t for t in _texts(botapi, spammer) if not t.startswith(("Before your first", "In queue"))
    ]
    # Spam lasted two seconds and refusals are throttled to one per five seconds.
    assert len(refusals) == 1
    assert refusals[0].startswith(("You're going fast!", "Please wait for your pictures"))
    assert _settle(botapi, other) == 1


def test_prompt_rules_refuse_politely(fair: Stack) -> None:
    botapi = fair.botapi
    user = 2020
    assert _say(botapi, user, "/imagine a FORBIDDEN castle") == (
        "Sorry, I can't draw that. Please try a different prompt."
    )
    assert _say(botapi, user, "a gorefest scene") == (
        "Sorry, I can't draw that. Please try a different prompt."
    )
    assert _say(botapi, user, "/imagine " + "x" * 501) == (
        "That prompt is too long: please keep it under 500 characters."
    )
    assert _calls(botapi, user, "sendChatAction") == []


def test_group_mention_is_a_prompt(fair: Stack) -> None:
    botapi = fair.botapi
    group = -100200
    sent = botapi.push_message(
        group, f"@{BOT_USERNAME} a tree on a hill", user_id=2010, chat_type="supergroup"
    )
    photo = botapi.wait_for(
        lambda c: c.method == "sendPhoto" and c.chat_id == group and c.ok, timeout=30
    )
    assert photo.result["caption"].startswith("a tree on a hill\n")
    assert photo.result["reply_to_message"]["message_id"] == sent["message_id"]


def test_first_use_notice_is_shown_once_before_the_first_photo(fair: Stack) -> None:
    botapi = fair.botapi
    user = 2006
    botapi.push_message(user, "/imagine one")
    _settle(botapi, user)
    botapi.push_message(user, "/imagine two")
    botapi.wait_until(lambda: len(_calls(botapi, user, "sendPhoto")) == 2, timeout=30)
    notices = [
        c for c in _calls(botapi, user, "sendMessage") if "non-commercial" in c.result["text"]
    ]
    assert len(notices) == 1
    assert notices[0].time < _calls(botapi, user, "sendPhoto")[0].time


def test_pause_and_resume_by_admin(fair: Stack) -> None:
    botapi = fair.botapi
    user = 2003
    assert _say(botapi, user, "/pause") == "This command is for the bot's admins only."
    assert _say(botapi, ADMIN, "/pause").startswith("Paused")
    assert _say(botapi, user, "/imagine a cat") == (
        "Drawing is paused by the admins. Please try again later."
    )
    assert _say(botapi, ADMIN, "/resume").startswith("Resumed")
    botapi.push_message(user, "/imagine a cat")
    botapi.wait_until(lambda: len(_calls(botapi, user, "sendPhoto")) == 1, timeout=30)


def test_ban_silences_a_user_until_unban(fair: Stack) -> None:
    botapi = fair.botapi
    user = 2004
    assert _say(botapi, ADMIN, "/ban 2004") == "User 2004 is banned."
    botapi.push_message(user, "/imagine a dog")
    botapi.push_message(user, "/start")
    # Both handled to the end, and nothing queued for them: the silence is the answer.
    wait_handled(botapi, fair.redis.url)
    assert [c.method for c in botapi.calls if c.chat_id == user] == []
    assert _say(botapi, ADMIN, "/unban 2004") == "User 2004 is unbanned."
    botapi.push_message(user, "/imagine a dog")
    botapi.wait_until(lambda: len(_calls(botapi, user, "sendPhoto")) == 1, timeout=30)
    assert _say(botapi, ADMIN, "/ban someone").startswith("Usage: /ban")


def test_stats_for_admins(fair: Stack) -> None:
    text = _say(fair.botapi, ADMIN, "/stats")
    assert "Queue depth: 0" in text
    assert "Live workers: 1" in text
    assert "Paused: no" in text


def test_language_follows_telegram_and_can_be_switched(fair: Stack) -> None:
    botapi = fair.botapi
    user = 2005
    assert "Я рисую картинку" in _say(botapi, user, "/start", language_code="ru")
    assert "I draw a 512×512 picture" in _say(botapi, 2015, "/start", language_code="en-GB")
    assert _say(botapi, user, "/language en", language_code="ru") == "Language: English"
    assert "I draw a 512×512 picture" in _say(botapi, user, "/help", language_code="ru")
    prompt = botapi.push_message(user, "/language", language_code="ru")
    keyboard = botapi.wait_for(
        lambda c: (
            c.method == "sendMessage" and c.chat_id == user and bool(c.params.get("reply_markup"))
        ),
        timeout=20,
    )
    assert keyboard.result["text"] == "Choose your language:"
    assert prompt["message_id"] == keyboard.result["reply_to_message"]["message_id"]
    botapi.push_callback_query(user, keyboard.result["message_id"], "lang:ru", user_id=user)
    edit = botapi.wait_for(lambda c: c.method == "editMessageText" and c.chat_id == user)
    assert edit.result["text"] == "Язык: русский"
    assert _say(botapi, user, "/imagine", language_code="en").startswith("Использование")
    botapi.push_callback_query(user, keyboard.result["message_id"], "lang:xx", user_id=user)
    alert = botapi.wait_for(
        lambda c: c.method == "answerCallbackQuery" and bool(c.params.get("show_alert")),
        timeout=20,
    )
    assert alert.params["text"] == "Неизвестный язык. Выберите ниже."


def test_queue_position_is_shown_then_removed_and_global_cap_refuses(
    tmp_path: Path, tiny_model: Path
) -> None:
    stack = Stack(
        tmp_path, tiny_model, worker=False, queue_max_depth="3", status_edit_interval_s="1"
    )
    try:
        botapi = stack.botapi
        queue = redis.Redis.from_url(stack.redis.url)
        for queued, user in enumerate((3001, 3002, 3003), start=1):
            botapi.push_message(user, f"/imagine picture {user}")
            # Queued (the notice before a first picture comes ahead of the job).
            botapi.wait_until(
                partial(lambda n: queue.llen("rq:queue:imagine") == n, queued), timeout=20
            )
        botapi.wait_until(lambda: bool(_texts(botapi, 3003)[1:]), timeout=20)
        botapi.push_message(3004, "/imagine picture 3004")
        botapi.wait_until(lambda: bool(botapi.sent(chat_id=3004)), timeout=20)
        assert _texts(botapi, 3001) == [t for t in _texts(botapi, 3001) if "non-commercial" in t]
        assert [t for t in _texts(botapi, 3002) if t.startswith("In queue")] == ["In queue: #2"]
        assert [t for t in _texts(botapi, 3003) if t.startswith("In queue")] == ["In queue: #3"]
        assert _texts(botapi, 3004)[-1] == "I'm very busy right now. Please try again in a minute."
        # One job at a time, each drawn for three seconds: the queue moves slower than the
        # status edits (one a second at most), so every new position is shown.
        users = (3002, 3003)
        stack.spawn.worker(
            stack.redis.url,
            tiny_model,
            module="testing.slow_worker",
            slow_generation_s="3",
            warmup="false",
            max_batch="1",
        )
        for user in (3001, 3002, 3003):
            botapi.wait_until(
                partial(lambda u: len(_calls(botapi, u, "sendPhoto")) == 1, user), timeout=60
            )
        # Edited as the queue moved, to each place in turn, and never again after that.
        edits = {
            u: [c.result["text"] for c in _calls(botapi, u, "editMessageText")] for u in users
        }
        assert edits == {3002: ["In queue: #1"], 3003: ["In queue: #2", "In queue: #1"]}
        for user in users:
            status = next(
                c for c in _calls(botapi, user, "sendMessage") if "queue" in c.result["text"]
            )
            botapi.wait_until(
                partial(
                    lambda u, s: any(
                        c.params["message_id"] == s.result["message_id"]
                        for c in _calls(botapi, u, "deleteMessage")
                    ),
                    user,
                    status,
                ),
                timeout=10,
            )
        assert _calls(botapi, 3004, "sendPhoto") == []
        assert _calls(botapi, 3001, "editMessageText") == []
    finally:
        stack.close()


def test_inflight_slot_comes_back_after_a_failed_job(
    tmp_path: Path, tiny_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import worker.engine

    # No pipeline in this process: the job fails inside a real RQ worker loop.
    monkeypatch.setattr(worker.engine, "_engine", None)
    stack = Stack(tmp_path, tiny_model, worker=False, user_inflight="1")
    try:
        botapi = stack.botapi
        user = 3101
        botapi.push_message(user, "/imagine first")
        # The licence notice closes the handling of a first request.
        botapi.wait_until(lambda: len(_calls(botapi, user, "sendMessage")) == 1, timeout=20)
        assert _say(botapi, user, "/imagine second").startswith("Please wait for your pictures")
        client = redis.Redis.from_url(stack.redis.url)
        queue = Queue("imagine", connection=client, serializer=JSONSerializer)
        SimpleWorker([queue], connection=client, serializer=JSONSerializer).work(burst=True)
        botapi.wait_until(
            lambda: "Sorry, I could not draw that one. Please try again." in _texts(botapi, user),
            timeout=20,
        )
        # The slot is released right after the error message is sent; a user refused a
        # moment ago is refused again without Redis for SHORTCUT_S.
        time.sleep(SHORTCUT_S + 0.3)
        botapi.push_message(user, "/imagine third")
        botapi.wait_until(lambda: len(_calls(botapi, user, "sendChatAction")) == 2, timeout=20)
    finally:
        stack.close()


def test_allow_list_tells_other_chats_once_and_then_ignores_them(
    tmp_path: Path, tiny_model: Path
) -> None:
    stack = Stack(
        tmp_path, tiny_model, worker=False, allowed_chat_ids="-100900", allowed_user_ids="3301"
    )
    try:
        botapi = stack.botapi
        outsider = 3201
        assert _say(botapi, outsider, "/imagine a fox").startswith("Sorry, this bot is private")
        botapi.push_message(outsider, "/start")
        botapi.push_message(-100900, "/start", user_id=outsider, chat_type="supergroup")
        # A listed user is served wherever they write: their private chat, any group.
        assert "/imagine" in _say(botapi, 3301, "/start")
        assert "/imagine" in _say(botapi, -100901, "/help", user_id=3301, chat_type="supergroup")
        wait_handled(botapi, stack.redis.url)
        assert _texts(botapi, -100900)  # the listed group, whoever writes in it
        assert len(_calls(botapi, outsider, "sendMessage")) == 1
    finally:
        stack.close()
