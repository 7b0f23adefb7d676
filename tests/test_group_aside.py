"""What goes to one member alone, in the test's loop: `EPHEMERAL` modes, a prompt posted on
behalf of the group, and a reaction racing the picture it announces."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pytest

from bot import texts
from bot.requests.jobs import JobContext
from bot.shared.origin import Origin
from common.protocol import Result

if TYPE_CHECKING:
    from tests.conftest import MakeApp

GROUP, MEMBER = -100_9500, 9501
USAGE = texts.USAGE.replace("<code>", "").replace("</code>", "")


def _group_message(app_botapi: object, text: str, **kwargs: object) -> dict[str, object]:
    return app_botapi.push_message(  # type: ignore[attr-defined, no-any-return]
        GROUP, text, user_id=MEMBER, chat_type="supergroup", **kwargs
    )


async def test_a_usage_hint_goes_to_the_member_alone_by_default(make_app: MakeApp) -> None:
    app = make_app()
    await app.message(_group_message(app.botapi, "/imagine"))
    assert [m["text"] for m in app.botapi.ephemeral_for(GROUP, MEMBER)] == [USAGE]
    assert app.answers(GROUP) == [USAGE]  # one send: the ephemeral one
    assert app.botapi.messages(GROUP)[-1]["from"]["id"] == MEMBER  # the group saw no answer


async def test_with_ephemeral_off_the_hint_is_an_ordinary_reply(make_app: MakeApp) -> None:
    app = make_app(ephemeral="off")
    await app.message(_group_message(app.botapi, "/imagine"))
    assert app.botapi.ephemeral_for(GROUP, MEMBER) == []
    (call,) = app.botapi.sent(chat_id=GROUP, method="sendMessage")
    assert "ephemeral_message_parameters" not in call.params
    assert app.botapi.messages(GROUP)[-1]["text"] == USAGE


async def test_with_ephemeral_on_a_refusal_is_not_remembered(make_app: MakeApp) -> None:
    app = make_app(ephemeral="on")
    app.botapi.refuse_ephemeral()
    for _ in range(2):
        await app.message(_group_message(app.botapi, "/imagine"))
    sends = app.botapi.sent(chat_id=GROUP, method="sendMessage")
    # Each hint tried aside first, then sent openly: `on` never stops trying.
    assert [
        bool(c.params.get("ephemeral_message_parameters"))
        for c in app.botapi.calls
        if c.method == "sendMessage"
    ] == [True, False, True, False]
    assert [c.result["text"] for c in sends if c.result] == [USAGE, USAGE]


async def test_a_receiver_the_server_cannot_reach_gets_it_openly_once(
    make_app: MakeApp,
) -> None:
    app = make_app()
    app.botapi.fail_next(
        "sendMessage", status=400, description="Bad Request: receiver is not a member of the chat"
    )
    await app.message(_group_message(app.botapi, "/imagine"))
    assert app.botapi.messages(GROUP)[-1]["text"] == USAGE  # openly, not lost
    # About that member, not the server: the chat keeps getting ephemeral messages.
    assert not app.redis.exists(app.services.keys.no_ephemeral(GROUP))
    await app.message(_group_message(app.botapi, "/imagine"))
    assert [m["text"] for m in app.botapi.ephemeral_for(GROUP, MEMBER)] == [USAGE]


async def test_a_server_that_ignores_them_is_noticed_and_remembered(make_app: MakeApp) -> None:
    app = make_app()
    app.botapi.ignore_ephemeral()
    for _ in range(2):
        await app.message(_group_message(app.botapi, "/imagine"))
    # The first went out openly anyway; the bot saw that and stopped asking for it.
    tried = [
        bool(c.params.get("ephemeral_message_parameters"))
        for c in app.botapi.calls
        if c.method == "sendMessage"
    ]
    assert tried == [True, False]
    assert [m["text"] for m in app.botapi.messages(GROUP) if m["from"]["is_bot"]] == [USAGE] * 2
    assert app.redis.ttl(app.services.keys.no_ephemeral(GROUP)) > 3000


async def test_a_prompt_posted_as_the_group_is_answered_openly(make_app: MakeApp) -> None:
    app = make_app()
    anonymous = {"id": GROUP, "type": "supergroup", "title": "Group"}
    await app.message(_group_message(app.botapi, "/imagine", extra={"sender_chat": anonymous}))
    assert app.botapi.ephemeral_for(GROUP, MEMBER) == []
    assert app.botapi.messages(GROUP)[-1]["text"] == USAGE


def _context(message_id: int) -> JobContext:
    origin = Origin(
        user_id=MEMBER,
        chat_id=GROUP,
        message_id=message_id,
        group=True,
        locale="en",
        editable=True,
    )
    return JobContext(
        job_id=f"job-{message_id}",
        origin=origin,
        prompt="a fox",
        seeds=(1,),
        enqueued_at=time.time(),
    )


async def test_eyes_set_after_the_picture_went_out_are_taken_back(make_app: MakeApp) -> None:
    app = make_app()
    status = app.services.status
    waiting = _group_message(app.botapi, "/imagine a fox")
    answered = _group_message(app.botapi, "/imagine an owl")
    still_waiting, already_done = _context(waiting["message_id"]), _context(answered["message_id"])  # type: ignore[arg-type]
    # Only the waiting job still has its record; the other's answer removed it.
    app.redis.set(
        app.services.keys.job_context(still_waiting.job_id), still_waiting.model_dump_json()
    )
    await status.react_queued(still_waiting)
    await status.react_queued(already_done)
    assert app.botapi.reaction(GROUP, still_waiting.origin.message_id) == ["\N{EYES}"]
    assert app.botapi.reaction(GROUP, already_done.origin.message_id) == []
    ok = Result(job_id=still_waiting.job_id, status="ok")
    await status.answered(still_waiting, ok)
    assert app.botapi.reaction(GROUP, still_waiting.origin.message_id) == ["\N{HIGH VOLTAGE SIGN}"]
    failed = Result(job_id=already_done.job_id, status="error", error="failed")
    await status.react_queued(_context(answered["message_id"]))  # type: ignore[arg-type]
    await status.answered(already_done, failed)
    assert app.botapi.reaction(GROUP, already_done.origin.message_id) == []


async def test_reactions_off_sets_none(make_app: MakeApp) -> None:
    app = make_app(reactions="false")
    context = _context(_group_message(app.botapi, "/imagine a fox")["message_id"])  # type: ignore[arg-type]
    app.redis.set(app.services.keys.job_context(context.job_id), context.model_dump_json())
    await app.services.status.react_queued(context)
    assert not any(c.method == "setMessageReaction" for c in app.botapi.calls)


async def test_a_queue_place_told_aside_is_edited_and_deleted_aside(make_app: MakeApp) -> None:
    from bot.outbound.aside import aside, receiver
    from bot.requests.status import StatusMessage

    app = make_app()
    status, keys = app.services.status, app.services.keys
    context = _context(_group_message(app.botapi, "/imagine a fox")["message_id"])  # type: ignore[arg-type]
    with aside(receiver(context.origin)):  # as the prompt's handler posts it
        await status.post(context, 3)
    assert [m["text"] for m in app.botapi.ephemeral_for(GROUP, MEMBER)] == ["In queue: #3"]
    # The job moves to the head of the queue; its last edit is long past.
    app.redis.set(keys.job_context(context.job_id), context.model_dump_json())
    app.redis.rpush(keys.queue, context.job_id)
    raw = app.redis.hget(keys.status, context.job_id)
    assert raw is not None
    stored = StatusMessage.model_validate_json(raw)
    assert stored.receiver == MEMBER
    app.redis.hset(
        keys.status, context.job_id, stored.model_copy(update={"edited_at": 0.0}).model_dump_json()
    )
    await status.refresh()
    assert [m["text"] for m in app.botapi.ephemeral_for(GROUP, MEMBER)] == ["In queue: #1"]
    await status.answered(context, Result(job_id=context.job_id, status="ok"))
    assert app.botapi.ephemeral_for(GROUP, MEMBER) == []
    assert not any(c.method in ("editMessageText", "deleteMessage") for c in app.botapi.calls)


async def test_each_member_hears_their_own_refusal_and_a_busy_group_hears_one(
    make_app: MakeApp,
) -> None:
    app = make_app(user_inflight="1", group_rate="3/minute")
    members = (9511, 9512)

    async def ask(user: int, text: str) -> None:
        await app.message(
            app.botapi.push_message(GROUP, text, user_id=user, chat_type="supergroup")
        )

    for user in members:
        await ask(user, "/imagine a fox")
        await ask(user, "/imagine another fox")  # the first is still waiting
    for user in members:  # within one REFUSAL_INTERVAL_S, and each is told, alone
        seen = [m["text"] for m in app.botapi.ephemeral_for(GROUP, user)]
        assert [t for t in seen if t.startswith("Please wait")] == [texts.WAIT_FOR_RUNNING]
    # The group's third picture of the minute is taken; then it is busy for everyone, and
    # the group reads that once, openly, however many ask.
    await ask(9513, "/imagine an owl")
    for user in (9514, 9515, 9516):
        await ask(user, "/imagine an owl")
    busy = [
        m
        for m in app.botapi.messages(GROUP)
        if m["from"]["is_bot"] and m["text"].startswith("This chat has had a lot of pictures")
    ]
    assert len(busy) == 1
    assert all(app.botapi.ephemeral_for(GROUP, u) == [] for u in (9515, 9516))


@pytest.mark.parametrize("whole", ["queue_full", "no_worker", "drawing_off"])
async def test_a_refusal_about_the_whole_group_is_told_once_openly(
    make_app: MakeApp, whole: str
) -> None:
    app = make_app(queue_max_depth="1")
    said = {
        "queue_full": texts.QUEUE_FULL,
        "no_worker": texts.NO_WORKER,
        "drawing_off": texts.DRAWING_OFF,
    }[whole]
    if whole == "no_worker":
        app.worker_beat.stop()
    elif whole == "drawing_off":
        await app.services.chat_settings.change(GROUP, "drawing", "off")
    members = (9521, 9522, 9523, 9524)
    for user in members:  # with the queue at its cap from the first
        await app.message(
            app.botapi.push_message(GROUP, "/imagine an owl", user_id=user, chat_type="supergroup")
        )
    openly = [m["text"] for m in app.botapi.messages(GROUP) if m["from"]["is_bot"]]
    assert openly.count(said) == 1
    for user in members:  # and to nobody alone
        assert said not in [m["text"] for m in app.botapi.ephemeral_for(GROUP, user)]


async def test_admins_only_is_said_to_the_member_alone_and_admins_draw(make_app: MakeApp) -> None:
    app = make_app()
    admin, member = 9531, 9532
    app.botapi.set_role(GROUP, admin, "administrator")
    await app.services.chat_settings.change(GROUP, "who", "admins")
    for user in (member, admin):
        await app.message(
            app.botapi.push_message(GROUP, "/imagine an owl", user_id=user, chat_type="supergroup")
        )
    told = [m["text"] for m in app.botapi.ephemeral_for(GROUP, member)]
    assert told == [texts.ADMINS_ONLY_DRAWING]
    assert [job.origin.user_id for job in app.jobs_for(GROUP)] == [admin]


async def test_a_pause_is_told_to_a_group_once_openly_and_operators_still_draw(
    make_app: MakeApp,
) -> None:
    operator = 9559
    app = make_app(admin_ids=str(operator))
    await app.services.community.set_paused(True)
    for user in (9551, 9552, operator):
        await app.message(
            app.botapi.push_message(GROUP, "/imagine an owl", user_id=user, chat_type="supergroup")
        )
    openly = [m["text"] for m in app.botapi.messages(GROUP) if m["from"]["is_bot"]]
    assert openly.count(texts.PAUSED) == 1
    assert [job.origin.user_id for job in app.jobs_for(GROUP)] == [operator]
