"""One worker process per GPU: `WORKER_GPUS=all` (or `0,1,3`) on a box with several.

`python -m worker` then loads no model itself. It starts one `python -m worker` per device,
each pinned to it (`CUDA_VISIBLE_DEVICES`), each taking jobs from the same queue, and:
- restarts a worker that dies (a crash, exit 3 after a CUDA fault, the OOM killer), waiting
  longer after each quick death, up to `MAX_BACKOFF_S`;
- serves one `/healthz` (ready when every worker is) and one `/metrics` on `METRICS_PORT`
  for the whole set, each worker's series labelled `gpu`;
- on SIGTERM or SIGINT passes the signal on, so each worker finishes its job (RQ's warm
  shutdown), and exits once all have.

`WORKER_PROCESSES=N` starts N workers without devices of their own, labelled `cpu0`…: the
same supervision on a host without GPUs, and how the tests drive it.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from common.metrics import PORT_TAKEN, Problems, serve_in_thread
from worker.startup import StartupError

if TYPE_CHECKING:
    from types import FrameType

    from worker.config import Settings, SupervisorSettings

log = logging.getLogger("worker")

MAX_BACKOFF_S: Final = 30.0
# A worker that ran this long before it died was not crash-looping: restart it at once.
STEADY_S: Final = 60.0
POLL_S: Final = 0.5
CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"
_SAMPLE: Final = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?(\s.*)$")


def devices(settings: SupervisorSettings) -> list[str]:
    """The `gpu` label of each worker to run; empty: run one worker in this process."""
    if settings.worker_processes:
        return [f"cpu{n}" for n in range(settings.worker_processes)]
    wanted = settings.worker_gpus.strip().lower()
    if not wanted:
        return []
    if wanted == "all":
        import torch  # only here: a supervisor of CPU processes never needs it

        count = torch.cuda.device_count()
        if count == 0:
            raise StartupError(
                "WORKER_GPUS=all but no CUDA device is visible: check the driver and the "
                "container's GPU reservation, or unset WORKER_GPUS"
            )
        return [str(n) for n in range(count)]
    parts = [part.strip() for part in wanted.split(",") if part.strip()]
    if not parts or not all(part.isdigit() for part in parts):
        raise StartupError(f"WORKER_GPUS={settings.worker_gpus!r}: use `all` or indexes, `0,1,3`")
    return parts


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Child:
    label: str
    port: int = field(default_factory=_free_port)
    proc: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    deaths: int = 0
    not_before: float = 0.0

    def environment(self) -> dict[str, str]:
        env = {
            **os.environ,
            "WORKER_GPUS": "",
            "WORKER_PROCESSES": "0",
            "METRICS_HOST": "127.0.0.1",
            "METRICS_PORT": str(self.port),
        }
        if not self.label.startswith("cpu"):
            env["CUDA_VISIBLE_DEVICES"] = self.label
        return env

    def start(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "worker"], env=self.environment())
        self.started = time.monotonic()
        log.info("worker gpu=%s started (pid %d)", self.label, self.proc.pid)

    def get(self, path: str) -> tuple[int, str]:
        url = f"http://127.0.0.1:{self.port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()
        except OSError:
            return 0, ""


def relabel(text: str, label: str, first: bool) -> list[str]:
    """A worker's exposition with `gpu="label"` on every sample; HELP/TYPE lines once."""
    lines: list[str] = []
    for line in text.splitlines():
        if line.startswith("#"):
            if first:
                lines.append(line)
            continue
        found = _SAMPLE.match(line)
        if found is None:
            continue
        name, labels, rest = found.groups()
        inner = labels[1:-1] if labels else ""
        joined = f'gpu="{label}"' + (f",{inner}" if inner else "")
        lines.append(f"{name}{{{joined}}}{rest}")
    return lines


class Supervisor:
    def __init__(self, labels: list[str]) -> None:
        self.children = [Child(label) for label in labels]
        self.stopping = threading.Event()

    def problems(self) -> Problems:
        found = []
        for child in self.children:
            status, _ = child.get("/healthz")
            if status != 200:
                found.append(f"worker gpu={child.label} not ready")
        return found

    def render(self) -> tuple[bytes, str]:
        lines: list[str] = []
        for index, child in enumerate(self.children):
            status, text = child.get("/metrics")
            if status == 200:
                lines += relabel(text, child.label, first=index == 0 or not lines)
        return ("\n".join(lines) + "\n").encode(), CONTENT_TYPE

    def stop(self, signum: int, frame: FrameType | None) -> None:
        log.info("stop requested: each worker finishes its job first")
        self.stopping.set()
        for child in self.children:
            if child.proc is not None and child.proc.poll() is None:
                child.proc.send_signal(signum)

    def run(self) -> int:
        for child in self.children:
            child.start()
        while not self.stopping.is_set():
            for child in self.children:
                self._look_after(child)
            self.stopping.wait(POLL_S)
        for child in self.children:
            if child.proc is not None:
                code = child.proc.wait()
                log.info("worker gpu=%s stopped (%s)", child.label, code)
        return 0

    def _look_after(self, child: Child) -> None:
        proc = child.proc
        if proc is None:
            if time.monotonic() >= child.not_before:
                child.start()
            return
        code = proc.poll()
        if code is None:
            return
        lived = time.monotonic() - child.started
        child.deaths = 0 if lived >= STEADY_S else child.deaths + 1
        delay = min(MAX_BACKOFF_S, 2.0 ** (child.deaths - 1)) if child.deaths else 0.0
        log.warning(
            "worker gpu=%s (pid %d) exited with %s after %.0f s; restarting in %.0f s",
            child.label,
            proc.pid,
            code,
            lived,
            delay,
        )
        child.proc, child.not_before = None, time.monotonic() + delay


def supervise(settings: Settings, labels: list[str]) -> int:
    supervisor = Supervisor(labels)
    signal.signal(signal.SIGTERM, supervisor.stop)
    signal.signal(signal.SIGINT, supervisor.stop)
    metrics = settings.metrics
    if metrics.metrics_port:
        try:
            serve_in_thread(
                metrics.metrics_host, metrics.metrics_port, supervisor.problems, supervisor.render
            )
        except OSError as exc:
            log.warning(PORT_TAKEN, metrics.metrics_port, exc)
    log.info("supervising %d worker(s): gpu=%s", len(labels), ",".join(labels))
    return supervisor.run()
