"""`python -m bot`: long-polling bot process."""

from __future__ import annotations

import asyncio
import logging
import sys

from pydantic import ValidationError

from bot.app import run
from bot.config import load_settings


def main() -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        settings = load_settings()
    except ValidationError as exc:
        # pydantic lists which variables are wrong; the values themselves stay out of the log.
        fields = ", ".join(".".join(map(str, err["loc"])).upper() for err in exc.errors())
        logging.getLogger("bot").error("invalid or missing settings: %s", fields)
        return 2
    asyncio.run(run(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
