"""Load benchmark: a slow Telegram, a crowd of users, a flood of commands in one group.

All real processes: Redis, `python -m bot`, `python -m worker` (tiny random-weight pipeline,
CPU) and the test Bot API server, which enforces Telegram's flood limits (429 past them)
and answers every sending call after `--latency-ms`. One run per latency:

1. `--users` private chats each send one prompt at the same moment;
2. once those are answered, `--flood` members of one group send `/help@Bot` at once, and
   right behind them one more private user sends a prompt (the probe);
3. once every job and result has settled, the bot's `/metrics` is read.

Counted: photos per prompt (must be exactly 1), prompts left unanswered (neither a photo nor
an error), the probe's wait from its update to its photo (what a user behind a flood feels),
the crowd's update-to-photo times, the concurrency slots still busy after the run (must be
0: none leaked) and the 429s Telegram would have answered.

    python -m bench.load --latency-ms 0 500 --users 40 --flood 120
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from bench.report import append, percentile, table
from bench.stack import BenchStack, scrape
from testing.faults import photos, received, wait_settled
from testing.support import free_port
from testing.synthetic import save_pipeline

if TYPE_CHECKING:
    from testing.botapi import Call

USERNAME = "ImagineLoadBot"
GROUP = -100_5000_000
SETTLE_S = 10.0
# Every call that sends or changes something in a chat answers after the latency.
SLOW_METHODS = (
    "sendPhoto",
    "sendMessage",
    "sendMediaGroup",
    "sendChatAction",
    "editMessageText",
    "editMessageMedia",
    "deleteMessage",
    "setMessageReaction",
)


class Load(BenchStack):
    def __init__(self, workdir: Path, model: Path) -> None:
        self.metrics_port = free_port()
        super().__init__(
            workdir,
            model,
            bot_env={
                "METRICS_PORT": str(self.metrics_port),
                # Everyone gets through fair use: the figures are about the system, not limits.
                "USER_RATE": "100/minute",
                "QUEUE_MAX_DEPTH": "10000",
            },
            username=USERNAME,
        )
        self.botapi.flood_mode()

    def slow_down(self, latency_s: float) -> None:
        with self.botapi.state.lock:
            self.botapi.state.faults.clear()
        if latency_s > 0:
            for method in SLOW_METHODS:
                self.botapi.fail_next(method, status=None, delay=latency_s, count=10**9)

    def photo_for(self, chat_id: int, message_id: int, timeout: float) -> Call:
        return self.wait_photo(chat_id, message_id, timeout)

    def slots_busy(self) -> dict[str, float]:
        samples = scrape(self.metrics_port, "imagine_bot_slots_busy{")
        return {name.split('loop="')[1].split('"')[0]: value for name, value in samples.items()}


def run(load: Load, latency_s: float, users: int, flood: int, base: int) -> list[object]:
    botapi = load.botapi
    load.slow_down(latency_s)
    offset = time.time() - time.monotonic()
    # 1. The crowd.
    asked: dict[int, tuple[int, float]] = {}
    for user in range(base, base + users):
        message = botapi.push_message(user, f"/imagine a kite number {user}", user_id=user)
        asked[user] = (message["message_id"], time.time())
    waits = []
    for user, (message_id, pushed) in asked.items():
        photo = load.photo_for(user, message_id, timeout=600)
        waits.append(photo.time + offset - pushed)
    wait_settled(load.redis.url, timeout=600)
    # 2. The flood, and the probe right behind it.
    for member in range(flood):
        botapi.push_message(
            GROUP - base,
            f"/help@{USERNAME}",
            user_id=base + 10_000 + member,
            chat_type="supergroup",
        )
    probe = base + 20_000
    probe_message = botapi.push_message(probe, "/imagine a lighthouse in a storm", user_id=probe)
    probe_pushed = time.time()
    probe_photo = load.photo_for(probe, probe_message["message_id"], timeout=600)
    probe_wait = probe_photo.time + offset - probe_pushed
    wait_settled(load.redis.url, timeout=600)
    # 3. What users got, and what the bot holds now.
    chats = [*asked, probe]
    per_prompt = [len(photos(botapi, chat)) for chat in chats]
    unanswered = sum(1 for chat in chats if not received(botapi, chat))
    helps = len([c for c in botapi.sent(GROUP - base, "sendMessage") if c.ok])
    # Tasks finish their last calls (a status message deleted) just after their result is
    # settled: give them SETTLE_S; slots still busy after that are leaked.
    deadline = time.monotonic() + SETTLE_S
    while any((busy := load.slots_busy()).values()) and time.monotonic() < deadline:
        time.sleep(0.1)
    return [
        f"{latency_s * 1000:.0f}",
        users + 1,
        f"{min(per_prompt)}–{max(per_prompt)}",
        sum(1 for n in per_prompt if n > 1),
        unanswered,
        f"{flood} → {helps}",
        f"{probe_wait:.2f}",
        f"{percentile(waits, 50):.2f} / {max(waits):.2f}",
        f"{busy.get('intake', float('nan')):.0f} / {busy.get('delivery', float('nan')):.0f}",
        len(botapi.throttled),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--latency-ms", type=float, nargs="+", default=[0.0, 500.0])
    parser.add_argument("--users", type=int, default=40)
    parser.add_argument("--flood", type=int, default=120)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        model = save_pipeline("tiny", workdir / "model")
        load = Load(workdir, model)
        try:
            rows = [
                run(load, latency / 1000, args.users, args.flood, base=100_000 * (index + 1))
                for index, latency in enumerate(args.latency_ms)
            ]
        finally:
            load.close()
    header = [
        "latency per call, ms",
        "prompts",
        "photos per prompt",
        "doubled",
        "unanswered",
        "/help flood → replies",
        "probe behind the flood: update→photo, s",
        "crowd update→photo p50 / max, s",
        f"slots busy {SETTLE_S:.0f} s after (intake / delivery)",
        "429s",
    ]
    body = (
        "Tiny random-weight pipeline on CPU (generation is not the point here); the test Bot "
        "API enforcing Telegram's flood limits and answering every sending call after the "
        "latency.\n\n" + table(header, rows)
    )
    append("Load: a slow Telegram, a crowd, a flood", "bench.load", body)


if __name__ == "__main__":
    main()
