"""Soak benchmark: what Redis keeps after thousands of mixed requests, per key family.

All real processes: Redis, `python -m bot`, `python -m worker` (tiny random-weight pipeline,
CPU) and the test Bot API server. `--requests` requests from many users, mixed as a
community uses the bot: text prompts, image-to-image (a photo with a caption, then replies to
it), edits of a prompt, button presses (regenerate), inline queries and /language. Once
every job and result has settled, every key is measured (`MEMORY USAGE`) and grouped by
family; the figures are per request, with a projection for 1 M requests a month from each
family's lifetime (what expires after 7 days holds a week of requests, and so on).

    python -m bench.soak --requests 2000
"""

from __future__ import annotations

import argparse
import io
import random
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import redis
from PIL import Image

from bench.report import append, table
from bench.stack import BenchStack
from testing.faults import wait_settled
from testing.synthetic import save_pipeline

USERNAME = "ImagineSoakBot"
STORAGE = "-1009000001"
MONTH_S = 30 * 86_400
PER_MONTH = 1_000_000
# The mix: what share of requests is what.
MIX = (
    ("text", 0.55),
    ("img2img", 0.10),
    ("edit", 0.10),
    ("button", 0.10),
    ("inline", 0.10),
    ("language", 0.05),
)


def _photo(rng: random.Random) -> bytes:
    """A camera-like JPEG: smooth with some grain, 1600×1200."""
    base = Image.linear_gradient("L").resize((1600, 1200)).convert("RGB")
    grain = Image.effect_noise((1600, 1200), 24).convert("RGB")
    out = io.BytesIO()
    Image.blend(base, grain, 0.2 + rng.random() * 0.2).save(out, format="JPEG", quality=90)
    return out.getvalue()


class Soak(BenchStack):
    def __init__(self, workdir: Path, model: Path) -> None:
        super().__init__(
            workdir,
            model,
            bot_env={
                "USER_RATE": "1000/minute",
                "USER_INFLIGHT": "100",
                "QUEUE_MAX_DEPTH": "100000",
                "STORAGE_CHAT_ID": STORAGE,
                "PACE_GROUP_PER_MIN": "100000",
                "INLINE_DEBOUNCE_S": "0",
                "EDIT_DEBOUNCE_S": "0",
            },
            username=USERNAME,
        )
        self.client = redis.Redis.from_url(self.redis.url)

    def close(self) -> None:
        self.client.close()
        super().close()

    def photo_reply(self, chat_id: int, message_id: int) -> dict[str, Any] | None:
        for call in self.botapi.sent(chat_id, "sendPhoto"):
            if call.ok and call.result.get("reply_to_message", {}).get("message_id") == message_id:
                photo: dict[str, Any] = call.result
                return photo
        return None


def drive(soak: Soak, requests: int, seed: int) -> Counter[str]:
    """Send the mix; each kind that needs an earlier photo uses one the user already got."""
    rng = random.Random(seed)
    botapi = soak.botapi
    kinds = [kind for kind, _ in MIX]
    weights = [share for _, share in MIX]
    sent: Counter[str] = Counter()
    prompts: list[tuple[int, int]] = []  # (chat, message id) of text prompts
    pictures: list[tuple[int, dict[str, Any]]] = []  # photos users sent
    photo_bytes = _photo(rng)
    for n in range(requests):
        user = 700_000 + rng.randrange(max(1, requests // 5))
        kind = rng.choices(kinds, weights)[0]
        if kind == "edit" and prompts:
            chat, message_id = rng.choice(prompts)
            botapi.edit_message(chat, message_id, f"/imagine a lake, take {n}")
        elif kind == "button" and len(prompts) > 20:
            # An older prompt: its photo has most likely arrived by now.
            chat, message_id = rng.choice(prompts[:-20])
            photo = soak.photo_reply(chat, message_id)
            if photo is None:
                kind = "text"
            else:
                rows = photo["reply_markup"]["inline_keyboard"]
                data = rows[0][0]["callback_data"]  # 🔁 Regenerate
                botapi.push_callback_query(chat, photo["message_id"], data, user_id=chat)
        elif kind == "img2img":
            if pictures and rng.random() < 0.5:  # a reply to a photo sent before
                chat, message = rng.choice(pictures)
                botapi.push_message(
                    chat, f"at dusk {n}", reply_to_message_id=message["message_id"]
                )
            else:
                message = botapi.push_message(user, photo=photo_bytes, caption=f"as ink {n}")
                pictures.append((user, message))
        elif kind == "inline":
            botapi.push_inline_query(f"a comet {n}", user_id=user)
        elif kind == "language":
            botapi.push_message(user, rng.choice(("/language ru", "/language en")))
        if (
            kind == "text"
            or (kind == "edit" and not prompts)
            or (kind == "button" and len(prompts) <= 20)
        ):
            kind = "text"
            message = botapi.push_message(user, f"/imagine a kite number {n}")
            prompts.append((user, message["message_id"]))
        sent[kind] += 1
        if n % 50 == 49:
            time.sleep(0.2)  # a steady stream rather than one burst
    return sent


def families(client: redis.Redis) -> dict[str, tuple[int, int, int]]:
    """Per family: keys, bytes (MEMORY USAGE), and the longest remaining TTL (-1: none)."""
    found: dict[str, list[int]] = {}
    for key in client.scan_iter("*", count=1000):
        name = key.decode()
        parts = name.split(":")
        family = ":".join(parts[:2]) if len(parts) > 1 else name
        usage = int(client.memory_usage(key) or 0)
        ttl = int(client.ttl(key))
        entry = found.setdefault(family, [0, 0, 0])
        entry[0] += 1
        entry[1] += usage
        entry[2] = -1 if ttl < 0 or entry[2] < 0 else max(entry[2], ttl)
    return {family: (v[0], v[1], v[2]) for family, v in sorted(found.items())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        soak = Soak(workdir, save_pipeline("tiny", workdir / "model"))
        try:
            before = int(soak.client.info("memory")["used_memory"])
            started = time.monotonic()
            sent = drive(soak, args.requests, seed=1)
            time.sleep(2)  # the last updates reach the bot
            wait_settled(soak.redis.url, timeout=1800)
            took = time.monotonic() - started
            after = int(soak.client.info("memory")["used_memory"])
            measured = families(soak.client)
        finally:
            soak.close()
    total = sum(sent.values())
    rows = []
    projected = 0.0
    for family, (keys, used, ttl) in measured.items():
        per_request = used / total
        if ttl > 0:
            # A family expiring after `ttl` holds that much of a month's requests at once.
            held = PER_MONTH * min(1.0, ttl / MONTH_S) * per_request
            life = f"{ttl / 86_400:.1f} d" if ttl >= 86_400 else f"{ttl / 3600:.1f} h"
        else:
            held = float("nan")
            life = "capped" if family.endswith(("results", "inbox", "queue")) else "none"
        if held == held:
            projected += held
        rows.append(
            [family, keys, f"{used / 1024:.0f}", f"{per_request:.0f}", life, f"{held / 2**20:.0f}"]
        )
    mix = ", ".join(f"{kind} {count}" for kind, count in sent.most_common())
    body = (
        f"{total} requests ({mix}) from {args.requests // 5} users in {took:.0f} s; Redis "
        f"`used_memory` {before / 2**20:.1f} MiB before, {after / 2**20:.1f} MiB after "
        f"({(after - before) / total:.0f} B per request).\n\n"
        + table(
            ["key family", "keys", "KiB", "B per request", "longest TTL left", "MiB at 1 M/month"],
            rows,
        )
        + f"\n\nProjection for 1 M requests a month: about {projected / 2**20:.0f} MiB held at "
        "once by the families that expire (each holds its lifetime's share of a month); the "
        "capped ones are bounded by their caps, not by traffic."
    )
    append("Soak: Redis memory after mixed traffic", "bench.soak", body)


if __name__ == "__main__":
    main()
