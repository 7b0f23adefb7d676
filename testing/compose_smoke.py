"""The user's side of scripts/compose-smoke.sh: push a prompt into the test Bot API server that
runs in the stack (`python -m testing.botapi`), and wait for the photo that answers it.

Standard library only, so it runs on any host that has docker and a python3.

    python3 -m testing.compose_smoke push --chat 5001 "/imagine a red fox"   # prints the id
    python3 -m testing.compose_smoke photo --chat 5001 --reply-to 17 --timeout 120
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
from typing import Any

SIZE = (512, 512)


def _request(url: str, body: dict[str, Any] | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    headers = {} if body is None else {"Content-Type": "application/json"}
    request = urllib.request.Request(url, data=data, headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def wait_ready(control: str, timeout: float) -> None:
    """Until the control API answers (the server in its container may still be starting)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            _request(f"{control}/control/calls")
            return
        except (OSError, urllib.error.URLError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def push(control: str, chat_id: int, text: str) -> int:
    message = _request(f"{control}/control/message", {"chat_id": chat_id, "text": text})
    return int(message["message_id"])


def _replied_to(call: dict[str, Any]) -> int | None:
    reply = (call.get("result") or {}).get("reply_to_message") or {}
    return reply.get("message_id")


def sent(calls: list[dict[str, Any]], chat_id: int) -> str:
    """What the bot sent to a chat, a call a line, for a failure's message."""
    return "".join(
        f"\n  {call['method']} -> {call['status']}: "
        + str(call["params"].get("text") or call["params"].get("caption") or "")[:160]
        for call in calls
        if str(call["params"].get("chat_id")) == str(chat_id)
    )


def wait_photo(control: str, chat_id: int, reply_to: int, timeout: float) -> dict[str, Any]:
    """The sendPhoto in `chat_id` that replies to `reply_to`; exits on anything else."""
    deadline = time.monotonic() + timeout
    last_error = "no answer yet"
    while time.monotonic() < deadline:
        try:
            calls = _request(f"{control}/control/calls")
        except (OSError, urllib.error.URLError) as exc:  # the server still starting
            last_error = repr(exc)
            time.sleep(0.5)
            continue
        photos = [
            call
            for call in calls
            if call["method"] == "sendPhoto"
            and call["status"] == 200
            and str(call["params"].get("chat_id")) == str(chat_id)
            and _replied_to(call) == reply_to
        ]
        if len(photos) > 1:
            sys.exit(f"FAIL: {len(photos)} photos answered message {reply_to}, expected one")
        if photos:
            photo: dict[str, Any] = photos[0]
            return photo
        last_error = "sent so far: " + sent(calls, chat_id)
        time.sleep(0.5)
    sys.exit(
        f"FAIL: no photo in chat {chat_id} replying to {reply_to} in {timeout:.0f} s; {last_error}"
    )


def check_photo(call: dict[str, Any]) -> str:
    # Uploaded as a field of its own, or named by `attach://<field>`.
    photo = str(call["params"].get("photo", ""))
    upload = call["files"].get(photo.removeprefix("attach://"), call["files"].get("photo"))
    if upload is None:
        sys.exit(f"FAIL: sendPhoto carried no uploaded file: {call['params']}")
    size = (upload.get("width"), upload.get("height"))
    if size != SIZE:
        sys.exit(f"FAIL: the photo is {size}, expected {SIZE}: {upload}")
    return f"{upload['format']} {size[0]}x{size[1]}, {upload['bytes']} bytes"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--control", default="http://127.0.0.1:18082")
    commands = parser.add_subparsers(dest="command", required=True)
    push_cmd = commands.add_parser("push", help="send a message as a user; prints its id")
    push_cmd.add_argument("--chat", type=int, required=True)
    push_cmd.add_argument("text")
    photo_cmd = commands.add_parser("photo", help="wait for the 512x512 photo replying to it")
    photo_cmd.add_argument("--chat", type=int, required=True)
    photo_cmd.add_argument("--reply-to", type=int, required=True)
    photo_cmd.add_argument("--timeout", type=float, default=120.0)
    photo_cmd.add_argument("--caption-has", default="", help="text the caption must contain")
    sent_cmd = commands.add_parser("sent", help="what the bot sent to a chat")
    sent_cmd.add_argument("--chat", type=int, required=True)
    args = parser.parse_args(argv)
    if args.command == "push":
        print(push(args.control, args.chat, args.text))
        return
    if args.command == "sent":
        calls = _request(f"{args.control}/control/calls")
        print(f"sent to chat {args.chat}:" + sent(calls, args.chat))
        return
    call = wait_photo(args.control, args.chat, args.reply_to, args.timeout)
    described = check_photo(call)
    caption = str(call["params"].get("caption", ""))
    if args.caption_has not in caption:
        sys.exit(f"FAIL: the caption {caption!r} lacks {args.caption_has!r}")
    print(f"photo replying to message {args.reply_to} in chat {args.chat}: {described}")


if __name__ == "__main__":
    main()
