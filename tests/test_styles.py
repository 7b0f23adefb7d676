"""Style presets: `--style` in a prompt, what the engine is asked to draw, the caption, the
buttons that keep a style, STYLES_FILE and its errors."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from bot import texts
from bot.delivery.captions import build_caption
from bot.play.buttons import ImageButton
from bot.requests.prompts import split_style
from bot.shared.origin import Origin
from bot.shared.styles import BUILT_IN, StylesFileError, load_styles
from testing.support import bot_refusing_to_start

if TYPE_CHECKING:
    from tests.conftest import MakeApp

ANIME = next(s for s in BUILT_IN if s.key == "anime")


@pytest.mark.parametrize(
    ("raw", "prompt", "name"),
    [
        ("a fox --style anime", "a fox  ", "anime"),
        ("--style=oil a fox", "  a fox", "oil"),
        ("a fox style:pixel-art", "a fox  ", "pixel-art"),
        ("лиса стиль:аниме", "лиса  ", "аниме"),
        ("лиса --стиль акварель", "лиса  ", "акварель"),
        ("a fox in the style of monet", "a fox in the style of monet", None),
        ("a stylish fox", "a stylish fox", None),
    ],
)
def test_the_style_option_is_found_anywhere_and_taken_out(
    raw: str, prompt: str, name: str | None
) -> None:
    assert split_style(raw) == (prompt, name)


def test_every_built_in_style_is_found_by_its_key_and_both_names() -> None:
    styles = load_styles("")
    assert len(styles.all) >= 8
    for style in BUILT_IN:
        for name in (style.key, style.en, style.ru, style.en.upper().replace(" ", "_")):
            assert styles.find(name) == style
    assert styles.find("cubism") is None
    assert "oil-painting" in styles.listing("en") and "аниме" in styles.listing("ru")


async def test_a_style_changes_what_is_drawn_and_a_plain_prompt_does_not(
    make_app: MakeApp,
) -> None:
    app = make_app()
    for chat, text in ((9801, "/imagine a red fox --style anime"), (9802, "/imagine a red fox")):
        await app.message(app.botapi.push_message(chat, text))
    (styled,) = app.jobs_for(9801)
    (plain,) = app.jobs_for(9802)
    assert styled.prompt == plain.prompt == "a red fox"  # what the caption shows as typed
    assert styled.style == ANIME
    assert styled.requests()[0].prompt == ANIME.apply("a red fox")
    assert styled.requests()[0].prompt.startswith("a red fox, anime style")
    assert plain.requests()[0].prompt == "a red fox"


async def test_russian_names_none_and_seed_together(make_app: MakeApp) -> None:
    app = make_app()
    await app.message(app.botapi.push_message(9803, "рыжая лиса стиль:акварель --seed 7"))
    (job,) = app.jobs_for(9803)
    assert job.style is not None and job.style.key == "watercolor"
    assert (job.prompt, job.seeds) == ("рыжая лиса", (7,))
    await app.message(app.botapi.push_message(9804, "/imagine an owl --style none"))
    (bare,) = app.jobs_for(9804)
    assert bare.style is None and bare.requests()[0].prompt == "an owl"


async def test_an_unknown_style_is_answered_with_the_known_ones(make_app: MakeApp) -> None:
    app = make_app()
    await app.message(app.botapi.push_message(9805, "/imagine a fox --style cubism"))
    listing = load_styles("").listing("en")
    shown = texts.STYLE_UNKNOWN.format(name="cubism", styles=listing)
    assert app.answers(9805) == [shown.replace("<code>", "").replace("</code>", "")]
    assert app.jobs_for(9805) == []


async def test_the_buttons_under_a_styled_photo_keep_its_style(make_app: MakeApp) -> None:
    app = make_app()
    await app.message(app.botapi.push_message(9806, "/imagine a fox --style neon"))
    (job,) = app.jobs_for(9806)
    photo = app.botapi.push_message(9806, "photo stand-in")  # a message the button sits under
    data = ImageButton(action="r", image=job.job_id).pack()
    query = app.botapi.push_callback_query(9806, photo["message_id"], data, user_id=9806)
    await app.feed({"callback_query": query})
    again = [j for j in app.jobs_for(9806) if j.job_id != job.job_id]
    assert len(again) == 1
    assert again[0].style is not None and again[0].style.key == "neon"
    assert again[0].requests()[0].prompt == again[0].style.apply("a fox")


def test_the_caption_names_the_style() -> None:
    caption = build_caption("a red fox", 7, "footer", style="Anime")
    assert caption == "<i>a red fox</i>\n🎨 Anime\nseed <code>7</code>\nfooter"
    assert "🎨" not in build_caption("a red fox", 7, "footer")


def _write(tmp_path: Path, body: str) -> str:
    path = tmp_path / "styles.yaml"
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return str(path)


def test_a_styles_file_extends_replaces_and_may_be_json(tmp_path: Path) -> None:
    extended = load_styles(
        _write(
            tmp_path,
            """\
            styles:
              - key: sketch
                en: Sketch
                ru: Набросок
                template: "{prompt}, pencil sketch"
              - key: anime
                en: Anime
                ru: Аниме
                template: "{prompt}, ghibli anime"
            """,
        )
    )
    assert extended.find("набросок") is not None
    assert extended.find("anime").apply("a fox") == "a fox, ghibli anime"  # type: ignore[union-attr]
    assert len(extended.all) == len(BUILT_IN) + 1
    path = tmp_path / "styles.json"
    path.write_text(
        '{"replace": true, "styles": [{"key": "ink", "en": "Ink", "ru": "Тушь",'
        ' "template": "{prompt}, ink drawing"}]}',
        encoding="utf-8",
    )
    assert [s.key for s in load_styles(str(path)).all] == ["ink"]


@pytest.mark.parametrize(
    ("entry", "said"),
    [
        ('    template: "{prompt}, sketch"\n', "line 4: the style has no ru"),
        ('    ru: Набросок\n    template: "pencil sketch"\n', "line 4: the template must hold"),
        ("    ru: Набросок\n    template: '{prompt}'\n    colour: red\n", "unknown field colour"),
    ],
)
def test_a_bad_entry_names_its_line(tmp_path: Path, entry: str, said: str) -> None:
    body = (
        "styles:\n  - key: photo\n    en: Photo\n    ru: Фото\n    template: '{prompt}, photo'\n"
    )
    path = tmp_path / "styles.yaml"
    # The second entry starts on line 6 of the file; its first field is on line 6 too.
    path.write_text(body + "  - key: sketch\n    en: Sketch\n" + entry, encoding="utf-8")
    with pytest.raises(StylesFileError) as caught:
        load_styles(str(path))
    assert said.replace("line 4", "line 6") in str(caught.value)
    assert str(path) in str(caught.value)


def test_a_bot_with_a_bad_styles_file_stops_with_one_line(tmp_path: Path) -> None:
    bad = _write(
        tmp_path, "styles:\n  - key: Bad Key\n    en: x\n    ru: y\n    template: '{prompt}'\n"
    )
    settings = {"BOT_TOKEN": "123456:TEST-token-for-a-styles-file", "STYLES_FILE": bad}
    line = bot_refusing_to_start(tmp_path, settings)
    assert f"STYLES_FILE {bad} line 2: key 'Bad Key' must be lowercase" in line


def _style_buttons(app_botapi: object, chat: int, user: int) -> dict[str, str]:
    """The /style panel's buttons the user sees, by label (a group's panel is theirs alone)."""
    botapi = app_botapi  # FakeBotAPI
    if chat < 0:
        (panel,) = botapi.ephemeral_for(chat, user)  # type: ignore[attr-defined]
    else:
        panel = [m for m in botapi.messages(chat) if m["from"]["is_bot"]][-1]  # type: ignore[attr-defined]
    rows = panel["reply_markup"]["inline_keyboard"]
    return {b["text"]: b["callback_data"] for row in rows for b in row}


async def test_a_users_own_style_applies_to_later_prompts_until_they_name_another(
    make_app: MakeApp,
) -> None:
    app = make_app(user_inflight="10")
    user = 9810
    await app.message(app.botapi.push_message(user, "/style"))
    buttons = _style_buttons(app.botapi, user, user)
    assert "✅ 🚫 No style" in buttons and "Anime" in buttons
    panel = [m for m in app.botapi.messages(user) if m["from"]["is_bot"]][-1]
    query = app.botapi.push_callback_query(
        user, panel["message_id"], buttons["Anime"], user_id=user
    )
    await app.feed({"callback_query": query})
    edited = app.botapi.message(user, panel["message_id"])
    assert edited is not None and "<b>Your style</b>" not in edited["text"]  # rendered HTML
    assert "Your style: Anime" in edited["text"]
    for text in ("/imagine a fox", "/imagine an owl --style oil", "/imagine a cat --style none"):
        await app.message(app.botapi.push_message(user, text))
    by_prompt = {job.prompt: job.style.key if job.style else None for job in app.jobs_for(user)}
    assert by_prompt == {"a fox": "anime", "an owl": "oil", "a cat": None}
    # In a group that never chose, the member's own style still applies.
    await app.message(
        app.botapi.push_message(-100_9810, "/imagine a bear", user_id=user, chat_type="supergroup")
    )
    (bear,) = app.jobs_for(-100_9810)
    assert bear.style is not None and bear.style.key == "anime"


async def test_a_groups_style_is_chosen_by_its_admins_and_wins_over_a_members_own(
    make_app: MakeApp,
) -> None:
    app = make_app()
    group, admin, member = -100_9820, 9820, 9821
    app.botapi.set_role(group, admin, "creator")
    store = app.services.chat_settings
    await store.change(member, "style", "neon")  # the member's own, from their private chat
    await app.message(
        app.botapi.push_message(group, "/style", user_id=member, chat_type="supergroup")
    )
    assert [m["text"] for m in app.botapi.ephemeral_for(group, member)] == [
        texts.SETTINGS_ADMINS_ONLY
    ]
    await app.message(
        app.botapi.push_message(group, "/style", user_id=admin, chat_type="supergroup")
    )
    (panel,) = app.botapi.ephemeral_for(group, admin)
    data = _style_buttons(app.botapi, group, admin)["Comic"]
    query = app.botapi.push_ephemeral_callback(
        group, panel["ephemeral_message_id"], data, user_id=admin
    )
    await app.feed({"callback_query": query})
    (edited,) = app.botapi.ephemeral_for(group, admin)
    assert "This group's style: Comic" in edited["text"]
    await app.message(
        app.botapi.push_message(group, "/imagine a fox", user_id=member, chat_type="supergroup")
    )
    (job,) = app.jobs_for(group)
    assert job.style is not None and job.style.key == "comic"
    # A member's press (forged: they never see the panel) changes nothing.
    assert isinstance(
        await app.services.chat_rules.configure(_origin(group, member), "style", "photo"), str
    )
    assert (await store.get(group)).style == "comic"


async def test_a_button_under_an_unstyled_photo_keeps_it_unstyled(make_app: MakeApp) -> None:
    app = make_app()
    user = 9830
    await app.message(app.botapi.push_message(user, "/imagine a fox"))
    (job,) = app.jobs_for(user)
    await app.services.chat_settings.change(user, "style", "anime")  # chosen afterwards
    photo = app.botapi.push_message(user, "photo stand-in")
    data = ImageButton(action="r", image=job.job_id).pack()
    await app.feed(
        {
            "callback_query": app.botapi.push_callback_query(
                user, photo["message_id"], data, user_id=user
            )
        }
    )
    (again,) = [j for j in app.jobs_for(user) if j.job_id != job.job_id]
    assert again.style is None


def _origin(chat: int, user: int) -> Origin:
    return Origin(user_id=user, chat_id=chat, message_id=1, group=chat < 0, locale="en")
