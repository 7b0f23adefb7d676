"""`python -m testing.crashing_bot`: the real bot, SIGKILLed once right after an update arrives.

Test-only stand-in for a crash, an OOM kill or a deploy at the worst moment. CRASH_AT picks
the moment:
- "recorded": the update is in the inbox, not yet confirmed to Telegram nor handled;
- "admitted": inside the handler, the request admitted (slot taken), nothing queued;
- "queued": right after the job was queued, before anything was sent for it.
The first time the moment comes the process kills itself and leaves the file CRASH_FLAG, so
the same command started again runs as the plain bot. Nothing under bot/ knows about this.
"""

from __future__ import annotations

import functools
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot import __main__ as bot_main
from bot.intake.inbox import Inbox
from bot.requests.admission import Admission
from bot.requests.jobs import JobQueue

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

_TARGETS: dict[str, tuple[type, str]] = {
    "recorded": (Inbox, "record_many"),
    "admitted": (Admission, "admit"),
    "queued": (JobQueue, "submit"),
}


def _die_once() -> None:
    flag = Path(os.environ["CRASH_FLAG"])
    if flag.exists():
        return
    flag.write_text(os.environ["CRASH_AT"])
    print(f"crashing at {os.environ['CRASH_AT']}", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)


def _crash_after(original: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    @functools.wraps(original)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        outcome = await original(*args, **kwargs)
        _die_once()
        return outcome

    return wrapper


owner, name = _TARGETS[os.environ["CRASH_AT"]]
setattr(owner, name, _crash_after(getattr(owner, name)))

if __name__ == "__main__":
    sys.exit(bot_main.main())
