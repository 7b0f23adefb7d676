"""A start-up that cannot work ends with one line naming the setting and the fix.

Loading a model fails in ways whose messages mislead an operator: a `save_pretrained`
directory whose weight files this user cannot read (safetensors writes them 0600, and the
image runs as uid 10001) surfaces as "No such file or directory"; a hub id that is not in
the cache while offline ends in a long transformers traceback. `check_source` looks first
and says what is wrong; `loading` turns what still fails into the same kind of line.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

T = TypeVar("T")


class StartupError(Exception):
    """Why the worker cannot start, in one line that names the setting and the fix."""


def _looks_like_path(model_id: str) -> bool:
    return model_id.startswith(("/", "./", "../", "~")) or Path(model_id).exists()


def check_source(setting: str, model_id: str) -> None:
    """Refuse a local model directory that is missing or that this process cannot read."""
    if not model_id or not _looks_like_path(model_id):
        return  # a hub id: `loading` reports what goes wrong with it
    root = Path(model_id).expanduser()
    if not root.is_dir():
        raise StartupError(
            f"{setting}={model_id}: no such directory; mount the save_pretrained directory "
            "there (README, Models) or set a hub id"
        )
    for path in sorted([root, *root.rglob("*")]):
        wanted = os.R_OK | (os.X_OK if path.is_dir() else 0)
        if not os.access(path, wanted):
            mode = stat.filemode(path.stat().st_mode)
            raise StartupError(
                f"{setting}={model_id}: {path} is not readable by uid {os.getuid()} ({mode}); "
                f"make it readable (chmod -R a+rX {model_id}) or mount it owned by that uid"
            )


@contextlib.contextmanager
def loading(setting: str, model_id: str) -> Iterator[None]:
    """Around `from_pretrained`: a model that cannot be found or read is a `StartupError`."""
    try:
        yield
    except (OSError, ValueError) as exc:
        offline = os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0")
        where = (
            "with HF_HUB_OFFLINE=1 it must already be in the cache (HF_HOME) or be a local "
            "save_pretrained directory"
            if offline
            else "check the hub id (and network access to huggingface.co) or the directory"
        )
        reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise StartupError(
            f"{setting}={model_id} could not be loaded ({reason}); {where}"
        ) from exc


def load_optional(setting: str, model_id: str, load: Callable[[], T]) -> T:
    """`load()` a model that a setting may also turn off (empty): checked and loaded like the
    others, and a failure's line says how to go on without it."""
    try:
        check_source(setting, model_id)
        with loading(setting, model_id):
            return load()
    except StartupError as exc:
        raise StartupError(f"{exc}; or {setting}= (empty) turns it off") from exc
