"""Russian prompts drawn as meant: the Cyrillic runs of a prompt translated by a MarianMT model
(a tiny random one with SentencePiece vocabularies trained here, loaded through
TRANSLATE_MODEL_ID) before the text encoders; the rest kept as typed; one model call per
micro-batch; a cache; failure draws the prompt as typed; the caption shows both."""

from __future__ import annotations

import logging
from functools import partial
from typing import TYPE_CHECKING, Any

import pytest
import torch

from common.protocol import GenerationRequest
from testing.faults import photos
from testing.translate_models import save_translator
from tests.conftest import Stack
from worker.config import ModelSettings, TranslateSettings
from worker.engine import Engine, load_engine
from worker.startup import StartupError
from worker.translate import TRANSLATIONS, Translator, load_translator, pieces

if TYPE_CHECKING:
    from pathlib import Path

CPU = torch.device("cpu")
FOX = "рыжая лиса в снегу"


@pytest.fixture(scope="module")
def marian(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every translation is "fox" repeated up to the token limit."""
    return save_translator(tmp_path_factory.mktemp("marian"), word="fox")


@pytest.fixture
def translator(marian: Path) -> Translator:
    loaded = load_translator(TranslateSettings(translate_model_id=str(marian)), CPU, torch.float32)
    assert loaded is not None
    loaded.max_new_tokens = 3
    return loaded


@pytest.fixture(scope="module")
def engine(tiny_model: Path) -> Engine:
    return load_engine(ModelSettings(model_id=str(tiny_model), device="cpu"))


def _outcomes() -> dict[str, float]:
    return {
        outcome: TRANSLATIONS.labels(outcome)._value.get() for outcome in ("translated", "failed")
    }


@pytest.mark.parametrize(
    ("prompt", "translated"),
    [
        (FOX, [FOX]),
        ("a red fox, рыжая лиса", ["рыжая лиса"]),
        ('кот "в шляпе", Van Gogh style; зимний лес.', ["кот", "зимний лес"]),
        ("маяк --style anime и 3 кота\nзакат", ["маяк", "и", "кота", "закат"]),
        ("a lighthouse at dusk, 4k", []),
        ("(рыжая лиса)!", ["рыжая лиса"]),
    ],
)
def test_pieces_join_back_exactly_and_only_cyrillic_runs_are_translated(
    prompt: str, translated: list[str]
) -> None:
    parts = pieces(prompt)
    assert "".join(text for text, _ in parts) == prompt
    assert [text for text, translate in parts if translate] == translated


def test_a_batch_of_prompts_is_one_model_call_and_repeats_hit_the_cache(
    translator: Translator,
) -> None:
    before = _outcomes()
    prompts = [FOX, "a red fox, маяк на скале", "a lighthouse at dusk", FOX]
    first = translator.translate(prompts)

    # Three new tokens, the last one forced to be the end: "fox fox".
    assert first == ["fox fox", "a red fox, fox fox", "a lighthouse at dusk", first[0]]
    assert translator.generate_calls == 1
    assert translator.translate(prompts) == first
    assert translator.generate_calls == 1  # every run known
    after = _outcomes()
    # Three prompts (FOX twice) had new Cyrillic text; repeats are not counted again.
    assert after["translated"] - before["translated"] == 3
    assert after["failed"] == before["failed"]
    assert translator.lookup(FOX) == "fox fox" and translator.lookup("маяк") is None


def test_a_translator_that_raises_or_returns_nothing_leaves_the_prompt_as_typed(
    translator: Translator, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the model fell over")

    before = _outcomes()
    monkeypatch.setattr(translator.model, "generate", broken)
    with caplog.at_level(logging.WARNING, logger="worker.translate"):
        assert translator.translate([FOX, "a fox"]) == [FOX, "a fox"]
    assert "translation failed (the model fell over)" in caplog.text

    monkeypatch.setattr(translator, "_generate", lambda runs: ["" for _ in runs])
    assert translator.translate(["маяк"]) == ["маяк"]
    assert _outcomes()["failed"] - before["failed"] == 2


def test_the_text_encoders_get_the_translation_and_latin_prompts_the_same_pixels(
    engine: Engine, translator: Translator
) -> None:
    latin = GenerationRequest(prompt="a red fox in the snow", seed=3)
    russian = GenerationRequest(prompt=FOX, seed=3)
    as_typed = engine.pixels([latin]), engine.pixels([russian])
    engine.translator = translator
    try:
        assert torch.equal(engine.pixels([latin]), as_typed[0])
        # What the encoders got is the translator's output, drawn at the same seed.
        (text,) = translator.translate([FOX])
        assert text == "fox fox"
        english = GenerationRequest(prompt=text, seed=3)
        engine.translator = None
        expected = engine.pixels([english])
        engine.translator = translator
        drawn = engine.pixels([russian])
        assert torch.equal(drawn, expected) and not torch.equal(drawn, as_typed[1])
        assert torch.equal(engine.pixels([russian]), drawn)  # the same seed, the same pixels
        # Off for this request: exactly as typed.
        off = russian.model_copy(update={"translate": False})
        assert torch.equal(engine.pixels([off]), as_typed[1])
        assert engine.drawn_prompts([russian, off, latin]) == ["fox fox", FOX, latin.prompt]
    finally:
        engine.translator = None


def test_a_translator_that_cannot_be_loaded_stops_the_start_naming_the_setting(
    tmp_path: Path,
) -> None:
    missing = tmp_path / "no-such-model"
    with pytest.raises(StartupError) as caught:
        load_translator(TranslateSettings(translate_model_id=str(missing)), CPU, torch.float32)
    line = str(caught.value)
    assert line.startswith(f"TRANSLATE_MODEL_ID={missing}: no such directory")
    assert line.endswith("; or TRANSLATE_MODEL_ID= (empty) turns it off")
    assert load_translator(TranslateSettings(translate_model_id=""), CPU, torch.float32) is None


def test_a_russian_prompt_is_drawn_in_english_and_the_caption_shows_both(
    tmp_path: Path, tiny_model: Path, marian: Path
) -> None:
    stack = Stack(tmp_path, tiny_model, worker_env={"translate_model_id": str(marian)})
    try:
        stack.botapi.push_message(7001, f"/imagine {FOX}", user_id=7001)
        stack.botapi.push_message(7002, "/imagine a red fox", user_id=7002)
        for chat in (7001, 7002):
            stack.botapi.wait_for(
                partial(lambda chat, c: c.chat_id == chat and c.method == "sendPhoto", chat),
                timeout=60,
            )
        (russian,) = photos(stack.botapi, 7001)
        caption = russian.params["caption"]
        assert caption.startswith(f"<i>{FOX}</i>\n→ fox fox fox")
        assert "\nseed <code>" in caption
        (latin,) = photos(stack.botapi, 7002)
        assert latin.params["caption"].startswith("<i>a red fox</i>\nseed <code>")
        assert stack.worker is not None
        assert "translator warm-up took" in stack.worker.output()

        botapi = stack.botapi
        # 🎲 and 📄 under the Russian photo go through the same translation.
        buttons = {
            b["text"]: b["callback_data"]
            for row in russian.result["reply_markup"]["inline_keyboard"]
            for b in row
        }
        message_id = russian.result["message_id"]
        for label, method in (("🎲 Variations", "sendMediaGroup"), ("📄 File", "sendDocument")):
            start = len(botapi.calls)
            botapi.push_callback_query(7001, message_id, buttons[label], user_id=7001)
            made = botapi.wait_for(
                partial(lambda method, c: c.method == method and c.chat_id == 7001, method),
                timeout=60,
                start=start,
            )
            captions = (
                [item["caption"] for item in made.params["media"]]
                if method == "sendMediaGroup"
                else [made.params["caption"]]
            )
            assert captions and all(
                c.startswith(f"<i>{FOX}</i>\n→ fox fox fox") for c in captions
            ), captions

        # The user turns translation off in their chat's /settings: drawn as typed.
        asked = botapi.push_message(7001, "/settings", user_id=7001)
        panel = botapi.wait_for_reply(7001, asked["message_id"]).result
        assert panel["text"].endswith("translated to English before drawing: on")
        (button,) = [
            b["callback_data"]
            for row in panel["reply_markup"]["inline_keyboard"]
            for b in row
            if b["text"].endswith("Draw as typed")
        ]
        start = len(botapi.calls)
        botapi.push_callback_query(7001, panel["message_id"], button, user_id=7001)
        # This press's answer, sent once the choice is saved (not an earlier press's).
        botapi.wait_for("answerCallbackQuery", timeout=30, start=start)
        botapi.push_message(7001, f"/imagine {FOX} --seed 5", user_id=7001)
        botapi.wait_for(lambda c: len(photos(botapi, 7001)) == 2, timeout=60)
        as_typed = photos(botapi, 7001)[1].params["caption"]
        assert as_typed.startswith(f"<i>{FOX}</i>\nseed <code>5</code>")
        assert "→" not in as_typed
    finally:
        stack.close()


def test_translate_default_and_a_chat_choice_decide_what_the_worker_is_asked(
    redis_url: str,
) -> None:
    import redis.asyncio as aredis

    from bot.community.chat_settings import ChatSettings, ChatSettingsStore
    from bot.config import LimitSettings, PromptSettings, SafetySettings
    from bot.requests.jobs import JobContext
    from bot.shared.origin import Origin
    from bot.shared.styles import load_styles
    from testing.jobs import KEYS

    client = aredis.Redis.from_url(redis_url)
    for default, chosen, expected in [
        ("on", None, True),
        ("off", None, False),
        ("off", True, True),
        ("on", False, False),
    ]:
        store = ChatSettingsStore(
            client,
            KEYS,
            SafetySettings(),
            LimitSettings(),
            PromptSettings(translate_default=default),
            load_styles(""),
        )
        assert store.translates(ChatSettings(translate=chosen)) is expected
    origin = Origin(chat_id=1, user_id=1, message_id=1, group=False, locale="ru")
    context = JobContext(
        job_id="j", origin=origin, prompt=FOX, seeds=(1, 2), enqueued_at=0.0, translate=False
    )
    assert [r.translate for r in context.requests()] == [False, False]
