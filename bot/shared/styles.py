"""Style presets: a prompt template each, named in English and Russian.

`--style anime` (or `--style=anime`, `style:anime`, `стиль:аниме`) anywhere in a prompt draws
the prompt through that style's template; the caption names the style, and the buttons under
the photo keep it. The built-in presets can be extended or replaced with `STYLES_FILE`, a YAML
(or JSON) file read at start: a bad entry stops the bot with one line naming the file's line.

    replace: false            # true: only the file's styles, none of the built-in ones
    styles:
      - key: sketch            # what `--style` accepts, with the names below
        en: Sketch
        ru: Набросок
        template: "{prompt}, pencil sketch, cross-hatching"

A style's template must hold `{prompt}` once; the user's words go there as they are.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import yaml
from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from collections.abc import Iterable

PLACE: Final = "{prompt}"
# What `--style` may name: a key or a name without its spaces, hyphens and underscores.
_FOLD: Final = re.compile(r"[\s_\-]+")
_KEY: Final = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,31}$")
# `none` (or `нет`) draws without a style.
NONE: Final = frozenset({"none", "нет", "без"})


class Style(BaseModel):
    """One preset: what the user types, what they read, and what the engine is given."""

    model_config = ConfigDict(frozen=True)

    key: str
    en: str
    ru: str
    template: str

    def name(self, locale: str) -> str:
        return self.ru if locale == "ru" else self.en

    def apply(self, prompt: str) -> str:
        return self.template.replace(PLACE, prompt)


BUILT_IN: Final = (
    Style(
        key="photo",
        en="Photo",
        ru="Фото",
        template="{prompt}, professional photograph, natural light, sharp focus, 35mm",
    ),
    Style(
        key="anime",
        en="Anime",
        ru="Аниме",
        template="{prompt}, anime style, cel shading, vibrant colors, detailed line art",
    ),
    Style(
        key="watercolor",
        en="Watercolor",
        ru="Акварель",
        template="{prompt}, watercolor painting, soft washes of color, paper texture",
    ),
    Style(
        key="oil",
        en="Oil painting",
        ru="Масло",
        template="{prompt}, oil painting, visible brush strokes, rich colors, canvas texture",
    ),
    Style(
        key="pixel",
        en="Pixel art",
        ru="Пиксель-арт",
        template="{prompt}, pixel art, 16-bit, crisp pixels, limited palette",
    ),
    Style(
        key="3d",
        en="3D render",
        ru="3D-рендер",
        template="{prompt}, 3D render, soft studio lighting, global illumination, high detail",
    ),
    Style(
        key="comic",
        en="Comic",
        ru="Комикс",
        template="{prompt}, comic book style, bold ink outlines, halftone shading",
    ),
    Style(
        key="neon",
        en="Neon",
        ru="Неон",
        template="{prompt}, neon lights, synthwave, glowing colors, dark background",
    ),
)


def fold(name: str) -> str:
    return _FOLD.sub("", name.casefold())


class Styles:
    """The catalogue: every style by its key and by its names in both languages."""

    def __init__(self, styles: Iterable[Style]) -> None:
        self.all = tuple(styles)
        self._by_name: dict[str, Style] = {}
        for style in self.all:
            for name in (style.key, style.en, style.ru):
                self._by_name.setdefault(fold(name), style)

    def find(self, name: str) -> Style | None:
        return self._by_name.get(fold(name))

    def get(self, key: str) -> Style | None:
        return next((style for style in self.all if style.key == key), None)

    def listing(self, locale: str) -> str:
        """What the user may write after `--style`, in their language."""
        return ", ".join(style.name(locale).lower().replace(" ", "-") for style in self.all)


class StylesFileError(ValueError):
    """A STYLES_FILE the bot cannot use: the message names the file, the line and the fix."""


@dataclass(frozen=True, slots=True)
class _Entry:
    line: int
    value: dict[str, Any]


def _entries(path: Path) -> tuple[bool, list[_Entry]]:
    text = path.read_text(encoding="utf-8")
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        raise StylesFileError(f"STYLES_FILE {path}{line}: not YAML or JSON ({exc})") from exc
    if not isinstance(root, yaml.MappingNode):
        raise StylesFileError(f"STYLES_FILE {path} line 1: expected `styles:` (a list of styles)")
    data = yaml.safe_load(text)
    replace = data.get("replace", False)
    if not isinstance(replace, bool):
        raise StylesFileError(f"STYLES_FILE {path}: `replace` must be true or false")
    nodes = dict((k.value, v) for k, v in root.value if isinstance(k, yaml.ScalarNode))
    listed = nodes.get("styles")
    if not isinstance(listed, yaml.SequenceNode) or not isinstance(data.get("styles"), list):
        raise StylesFileError(f"STYLES_FILE {path}: `styles:` must be a list of styles")
    return replace, [
        _Entry(node.start_mark.line + 1, value)
        for node, value in zip(listed.value, data["styles"], strict=True)
    ]


def _style(path: Path, entry: _Entry) -> Style:
    where = f"STYLES_FILE {path} line {entry.line}"
    value = entry.value
    if not isinstance(value, dict):
        raise StylesFileError(f"{where}: a style is `key`, `en`, `ru` and `template`")
    missing = [k for k in ("key", "en", "ru", "template") if not str(value.get(k) or "").strip()]
    if missing:
        raise StylesFileError(f"{where}: the style has no {', '.join(missing)}")
    unknown = sorted(set(value) - {"key", "en", "ru", "template"})
    if unknown:
        raise StylesFileError(f"{where}: unknown field {', '.join(map(str, unknown))}")
    key = str(value["key"]).strip()
    if not _KEY.match(key):
        raise StylesFileError(
            f"{where}: key {key!r} must be lowercase letters, digits, - or _ (up to 32)"
        )
    template = str(value["template"])
    if template.count(PLACE) != 1:
        raise StylesFileError(f"{where}: the template must hold {PLACE} exactly once")
    return Style(
        key=key, en=str(value["en"]).strip(), ru=str(value["ru"]).strip(), template=template
    )


def load_styles(path: str) -> Styles:
    """The built-in styles, extended (a style with a built-in key replaces it) or replaced by
    those of the file at `path`; only the built-in ones without a file."""
    if not path:
        return Styles(BUILT_IN)
    file = Path(path)
    try:
        replace, entries = _entries(file)
    except OSError as exc:
        raise StylesFileError(f"STYLES_FILE {path}: cannot be read ({exc.strerror})") from exc
    chosen: dict[str, Style] = {} if replace else {s.key: s for s in BUILT_IN}
    seen: set[str] = set()
    for entry in entries:
        style = _style(file, entry)
        if style.key in seen:
            raise StylesFileError(f"STYLES_FILE {path} line {entry.line}: {style.key!r} twice")
        seen.add(style.key)
        chosen[style.key] = style
    if not chosen:
        raise StylesFileError(f"STYLES_FILE {path}: no styles (with `replace: true`, list some)")
    return Styles(chosen.values())
