"""Edited prompts through the real dispatcher: edits handled out of order, the newest wins."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from testing.harness import BotUnderTest


@pytest.fixture(autouse=True)
def _short_debounce(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDIT_DEBOUNCE_S", "0.1")


async def test_an_older_edit_handled_after_a_newer_one_is_not_drawn(app: BotUnderTest) -> None:
    sent = app.botapi.push_message(7400, "/imagine a cat")
    older = app.botapi.edit_message(7400, sent["message_id"], "/imagine a cat in a boat")
    newer = app.botapi.edit_message(7400, sent["message_id"], "/imagine a cat in a coat")
    assert older["update_id"] < newer["update_id"]
    # Handlers run concurrently: the older edit may reach Redis last. It must not win.
    await app.feed(newer)
    await app.feed(older)
    assert [job.prompt for job in app.jobs_for(7400)] == ["a cat in a coat"]
    (job,) = app.jobs_for(7400)
    assert (job.origin.revision, job.origin.editable) == (newer["update_id"], True)
    assert app.answers(7400) == []  # the ignored edit is not answered either


async def test_an_edit_keeps_a_seed_typed_into_the_prompt(app: BotUnderTest) -> None:
    sent = app.botapi.push_message(7401, "/imagine a dog")
    await app.feed(app.botapi.edit_message(7401, sent["message_id"], "/imagine a dog --seed 42"))
    (job,) = app.jobs_for(7401)
    assert (job.prompt, job.seed) == ("a dog", 42)
