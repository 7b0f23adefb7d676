"""The test Bot API server as a process of its own, for a bot in another container.

    python -m testing.botapi --host 0.0.0.0 --port 8081 --control-port 8082

The Bot API answers on `--port` like api.telegram.org (`TELEGRAM_API_URL=http://HOST:8081`);
a small control API on `--control-port` lets a test script outside the process play the users
and read what the bot sent:

- `POST /control/message` with `{"chat_id": 1, "text": "/imagine a fox"}` (and optionally
  `user_id`, `chat_type`, `language_code`) pushes a message as an update; answers the Message.
- `GET /control/calls?method=sendPhoto` lists the answered calls (all but getUpdates), each
  with its parameters, its result and, for every uploaded file, its size in bytes and, for
  pictures, their format, width and height.
"""

from __future__ import annotations

import argparse
import io
import logging
from typing import Any

from aiohttp import web
from PIL import Image

from .server import DEFAULT_TOKEN, FakeBotAPI

_PUSHED_FIELDS = ("user_id", "chat_type", "language_code", "reply_to_message_id")


def _describe(data: bytes) -> dict[str, Any]:
    """What a test needs of an upload: its size and, for a picture, its format and shape."""
    described: dict[str, Any] = {"bytes": len(data)}
    try:
        with Image.open(io.BytesIO(data)) as image:
            described.update(format=image.format, width=image.width, height=image.height)
    except Exception:  # not a picture: the size alone
        pass
    return described


def control_app(api: FakeBotAPI) -> web.Application:
    async def message(request: web.Request) -> web.Response:
        body = await request.json()
        if not isinstance(body, dict) or not isinstance(body.get("chat_id"), int):
            raise web.HTTPBadRequest(text='expected {"chat_id": <int>, "text": <str>, ...}')
        extra = {key: body[key] for key in _PUSHED_FIELDS if key in body}
        return web.json_response(api.push_message(body["chat_id"], body.get("text"), **extra))

    async def calls(request: web.Request) -> web.Response:
        method = request.query.get("method")
        return web.json_response(
            [
                {
                    "method": call.method,
                    "status": call.status,
                    "params": call.params,
                    "result": call.result,
                    "files": {name: _describe(data) for name, data in call.files.items()},
                }
                for call in api.sent(method=method)
            ]
        )

    app = web.Application()
    app.router.add_post("/control/message", message)
    app.router.add_get("/control/calls", calls)
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--control-port", type=int, default=8082)
    parser.add_argument("--token", default=DEFAULT_TOKEN)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    with FakeBotAPI(args.token, host=args.host, port=args.port) as api:
        logging.getLogger(__name__).info("Bot API on %s:%d", args.host, api.port)
        web.run_app(
            control_app(api), host=args.host, port=args.control_port, print=None, access_log=None
        )


if __name__ == "__main__":
    main()
