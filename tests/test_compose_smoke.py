"""The compose smoke test's own parts, without containers: the test Bot API server as a process
of its own (`python -m testing.botapi`, as the stack runs it) and the user's side of the
script (`testing.compose_smoke`), which must accept one 512x512 photo replying to the prompt
and nothing less."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from PIL import Image

from testing import compose_smoke
from testing.support import Process, free_port

TOKEN = "123456:smoke-test-token-of-this-stack"
CHAT = 77


class Server:
    def __init__(self, api: str, control: str) -> None:
        self.api, self.control = api, control

    def send_photo(self, size: tuple[int, int], reply_to: int) -> requests.Response:
        """What the bot does: sendPhoto as multipart, the file named by attach://."""
        picture = io.BytesIO()
        Image.new("RGB", size, "orange").save(picture, "JPEG")
        return requests.post(
            f"{self.api}/bot{TOKEN}/sendPhoto",
            data={
                "chat_id": str(CHAT),
                "photo": "attach://pic",
                "reply_parameters": json.dumps({"message_id": reply_to}),
            },
            files={"pic": ("pic.jpg", picture.getvalue(), "image/jpeg")},
            timeout=10,
        )


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    port, control_port = free_port(), free_port()
    args = ["--port", str(port), "--control-port", str(control_port), "--token", TOKEN]
    process = Process("testing.botapi", {}, tmp_path, args=args)
    try:
        process.wait_for_output(r"Bot API on 127\.0\.0\.1:\d+", timeout=30)
        # The control API starts after the Bot API: ready once it answers.
        control = f"http://127.0.0.1:{control_port}"
        compose_smoke.wait_ready(control, timeout=30)
        yield Server(f"http://127.0.0.1:{port}", control)
    finally:
        process.stop()


def test_one_photo_replying_to_the_prompt_is_found_and_measured(server: Server) -> None:
    prompt = compose_smoke.push(server.control, CHAT, "/imagine a red fox")
    other = compose_smoke.push(server.control, CHAT, "/imagine a lighthouse")
    assert server.send_photo((512, 512), reply_to=other).ok
    assert server.send_photo((512, 512), reply_to=prompt).ok

    call = compose_smoke.wait_photo(server.control, CHAT, prompt, timeout=10)

    assert call["result"]["reply_to_message"]["message_id"] == prompt
    assert compose_smoke.check_photo(call).startswith("JPEG 512x512, ")


def test_a_photo_of_another_size_fails(server: Server) -> None:
    prompt = compose_smoke.push(server.control, CHAT, "/imagine a red fox")
    assert server.send_photo((256, 256), reply_to=prompt).ok
    call = compose_smoke.wait_photo(server.control, CHAT, prompt, timeout=10)

    with pytest.raises(SystemExit, match=r"the photo is \(256, 256\), expected \(512, 512\)"):
        compose_smoke.check_photo(call)


def test_two_photos_for_one_prompt_fail(server: Server) -> None:
    prompt = compose_smoke.push(server.control, CHAT, "/imagine a red fox")
    assert server.send_photo((512, 512), reply_to=prompt).ok
    assert server.send_photo((512, 512), reply_to=prompt).ok

    with pytest.raises(SystemExit, match="2 photos answered message"):
        compose_smoke.wait_photo(server.control, CHAT, prompt, timeout=10)


def test_no_photo_fails_with_what_was_sent_instead(server: Server) -> None:
    prompt = compose_smoke.push(server.control, CHAT, "/imagine a red fox")
    sent = requests.post(
        f"{server.api}/bot{TOKEN}/sendMessage",
        json={"chat_id": CHAT, "text": "No GPU worker is running"},
        timeout=10,
    )
    assert sent.ok

    with pytest.raises(SystemExit, match="sendMessage -> 200: No GPU worker is running"):
        compose_smoke.wait_photo(server.control, CHAT, prompt, timeout=1.5)
