"""Inline answers through several storage chats, against a Bot API enforcing flood limits."""

from __future__ import annotations

from collections import Counter
from functools import partial
from typing import TYPE_CHECKING

from testing.botapi.flood import Flood
from tests.conftest import Stack

if TYPE_CHECKING:
    from pathlib import Path

    import pytest

STORAGE = (-100_7801, -100_7802, -100_7803)
GROUP_PER_MIN = 8  # two 4-picture albums a minute per storage chat (Telegram: 20, five)


def test_answers_spread_over_the_storage_chats_beyond_one_chats_minute(
    tmp_path_factory: pytest.TempPathFactory, tiny_model: Path
) -> None:
    stack = Stack(
        tmp_path_factory.mktemp("inline-throughput"),
        tiny_model,
        storage_chat_id=",".join(map(str, STORAGE)),
        pace_group_per_min=str(GROUP_PER_MIN),
        inline_debounce_s="0.1",
    )
    try:
        botapi = stack.botapi
        botapi.flood_mode(Flood(group_per_min=GROUP_PER_MIN))
        # Three chats' worth of a minute at once: one storage chat would answer two of them
        # now and the rest a minute later, long after Telegram gave up on the queries.
        queries = [botapi.push_inline_query(f"a comet {n}", user_id=7810 + n) for n in range(6)]
        for query in queries:
            answer = botapi.wait_for(
                partial(
                    lambda query, c: (
                        c.method == "answerInlineQuery"
                        and c.params["inline_query_id"] == query["id"]
                    ),
                    query,
                ),
                timeout=40,
            )
            assert [result["type"] for result in answer.params["results"]] == ["photo"] * 4
        uploads = Counter(c.chat_id for c in botapi.calls if c.method == "sendMediaGroup")
        assert uploads == dict.fromkeys(STORAGE, 2)
        assert botapi.throttled == []
    finally:
        stack.close()
