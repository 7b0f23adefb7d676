"""Seed options, results with several images and button data, without processes."""

from __future__ import annotations

import pytest

from bot.play.buttons import ImageButton, image_keyboard
from bot.requests.prompts import SeedError, clean_prompt, split_seed
from common.protocol import MAX_SEED, Result


@pytest.mark.parametrize(
    ("raw", "prompt", "seed"),
    [
        ("--seed 42 a red fox", "a red fox", 42),
        ("a red fox --seed=7", "a red fox", 7),
        ("a red SEED:0 fox", "a red fox", 0),
        ("a fox --seed 1 --seed 2", "a fox", 2),
        ("a fox", "a fox", None),
        # Not options: part of a word, or no number.
        ("a fox--seed 3", "a fox--seed 3", None),
        ("a fox --seed x", "a fox --seed x", None),
        ("reseed:5 the lawn", "reseed:5 the lawn", None),
    ],
)
def test_seed_options_are_taken_out_of_the_prompt(raw: str, prompt: str, seed: int | None) -> None:
    rest, found = split_seed(raw, MAX_SEED)
    assert (clean_prompt(rest, 500), found) == (prompt, seed)


def test_a_seed_out_of_range_is_refused() -> None:
    with pytest.raises(SeedError):
        split_seed(f"a fox --seed {MAX_SEED + 1}", MAX_SEED)
    assert split_seed(f"a fox --seed {MAX_SEED}", MAX_SEED)[1] == MAX_SEED


def test_a_result_with_several_images_round_trips_and_one_image_stays_as_before() -> None:
    several = Result(job_id="j", status="ok", image=b"1", more=(b"2", b"3"), mime="image/png")
    fields = {
        k.encode(): v if isinstance(v, bytes) else str(v).encode()
        for k, v in several.to_fields().items()
    }
    assert Result.from_fields(fields).images == [b"1", b"2", b"3"]
    single = Result(job_id="j", status="ok", image=b"1").to_fields()
    assert set(single) == {"job_id", "status", "image", "mime", "error", "generation_ms"}


def test_button_data_is_small_and_names_only_action_and_image() -> None:
    keyboard = image_keyboard("ab" * 16, lambda text: text)
    data = [button.callback_data for button in keyboard.inline_keyboard[0]]
    assert data == [f"img:{action}:{'ab' * 16}" for action in "rvf"]
    assert all(len((d or "").encode()) <= 64 for d in data)
    assert ImageButton.unpack(data[1] or "") == ImageButton(action="v", image="ab" * 16)
    with pytest.raises(ValueError):
        ImageButton.unpack("img:x:" + "ab" * 16)
