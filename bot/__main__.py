"""`python -m bot`: the bot process (long polling, or a webhook server with WEBHOOK_URL)."""

from __future__ import annotations

import asyncio
import logging
import sys

from pydantic import ValidationError

from bot import redaction
from bot.config import load_settings
from bot.intake.webhook import WebhookRefused
from bot.lease import LeaseHeld
from bot.runtime import run
from bot.shared.styles import StylesFileError, load_styles


def main() -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        settings = load_settings()
    except ValidationError as exc:
        # pydantic lists which variables are wrong; the values themselves stay out of the log.
        fields = ", ".join(".".join(map(str, err["loc"])).upper() for err in exc.errors())
        logging.getLogger("bot").error(
            "invalid or missing settings: %s (set them in .env or the environment; see "
            ".env.example and README, Settings)",
            fields,
        )
        return 2
    try:
        # Read before anything connects: a bad file ends the start with one line.
        load_styles(settings.prompts.styles_file)
    except StylesFileError as exc:
        logging.getLogger("bot").error("%s", exc)
        return 2
    redaction.install(
        redaction.secret_forms(
            settings.telegram.bot_token.get_secret_value(),
            settings.redis.redis_url,
            settings.webhook.webhook_secret.get_secret_value(),
            settings.redis.redis_password.get_secret_value(),
        )
    )
    try:
        asyncio.run(run(settings))
    except (LeaseHeld, WebhookRefused) as exc:
        logging.getLogger("bot").error("%s", exc)
        return 2
    except Exception:
        # Most likely the Bot API is unreachable or refuses the token at start.
        logging.getLogger("bot").exception("the bot stopped")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
