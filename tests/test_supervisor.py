"""One worker per device: several worker processes under one supervisor, on the CPU."""

from __future__ import annotations

import os
import re
import signal
import urllib.error
import urllib.request
from functools import partial
from typing import TYPE_CHECKING

import pytest

from testing.faults import photos, wait_until
from testing.support import free_port
from tests.conftest import Stack
from worker.config import SupervisorSettings
from worker.startup import StartupError
from worker.supervisor import devices, relabel

if TYPE_CHECKING:
    from pathlib import Path


@pytest.mark.parametrize(
    ("gpus", "processes", "labels"),
    [
        ("", 0, []),
        ("0,1,3", 0, ["0", "1", "3"]),
        (" 2 ", 0, ["2"]),
        ("", 3, ["cpu0", "cpu1", "cpu2"]),
    ],
)
def test_devices_are_read_from_the_settings(gpus: str, processes: int, labels: list[str]) -> None:
    settings = SupervisorSettings(worker_gpus=gpus, worker_processes=processes)
    assert devices(settings) == labels


@pytest.mark.parametrize("gpus", ["all", "0,x", "first"])
def test_devices_that_cannot_be_had_are_one_clear_line(gpus: str) -> None:
    # No CUDA here: `all` finds none.
    with pytest.raises(StartupError, match="WORKER_GPUS"):
        devices(SupervisorSettings(worker_gpus=gpus))


def test_each_workers_series_carry_its_gpu_label() -> None:
    text = (
        "# HELP imagine_worker_images_total Images made.\n"
        "# TYPE imagine_worker_images_total counter\n"
        "imagine_worker_images_total 3.0\n"
        'imagine_worker_safety_verdicts_total{verdict="safe"} 2.0\n'
    )
    assert relabel(text, "1", first=False) == [
        'imagine_worker_images_total{gpu="1"} 3.0',
        'imagine_worker_safety_verdicts_total{gpu="1",verdict="safe"} 2.0',
    ]
    assert relabel(text, "0", first=True)[:2] == text.splitlines()[:2]


def _get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:
        return 0, ""


def _pids(output: str, label: str) -> list[int]:
    return [int(pid) for pid in re.findall(rf"worker gpu={label} started \(pid (\d+)\)", output)]


def test_two_workers_share_the_queue_one_killed_is_replaced_and_sigterm_drains_both(
    tmp_path_factory: pytest.TempPathFactory, tiny_model: Path
) -> None:
    stack = Stack(tmp_path_factory.mktemp("supervised"), tiny_model, worker=False, stand_in=False)
    port = free_port()
    try:
        supervisor = stack.start_worker(worker_processes="2", metrics_port=str(port))
        wait_until(lambda: _get(port, "/healthz")[0] == 200, 120, "both workers ready")
        _, text = _get(port, "/metrics")
        for label in ("cpu0", "cpu1"):
            assert f'imagine_worker_ready{{gpu="{label}"}} 1.0' in text
        botapi = stack.botapi
        for user in range(9950, 9954):
            botapi.push_message(user, f"/imagine a lantern {user}", user_id=user)
        for user in range(9950, 9954):
            botapi.wait_for(
                partial(lambda u, c: c.chat_id == u and c.method == "sendPhoto", user), 120
            )
        # A worker killed (the OOM killer, a crash) is replaced; the set is ready again.
        (first,) = _pids(supervisor.output(), "cpu0")
        os.kill(first, signal.SIGKILL)
        supervisor.wait_for_output(rf"worker gpu=cpu0 \(pid {first}\) exited with -9", 30)
        wait_until(lambda: len(_pids(supervisor.output(), "cpu0")) == 2, 60, "a new cpu0")
        wait_until(lambda: _get(port, "/healthz")[0] == 200, 120, "ready again")
        botapi.push_message(9955, "/imagine a lantern after", user_id=9955)
        botapi.wait_for(lambda c: c.chat_id == 9955 and c.method == "sendPhoto", 120)
        counts = {user: len(photos(botapi, user)) for user in [*range(9950, 9954), 9955]}
        assert set(counts.values()) == {1}, counts
        # SIGTERM: each worker finishes and stops, then the supervisor exits cleanly.
        supervisor.proc.send_signal(signal.SIGTERM)
        assert supervisor.proc.wait(60) == 0
        output = supervisor.output()
        for label in ("cpu0", "cpu1"):
            assert f"worker gpu={label} stopped (0)" in output
    finally:
        stack.close()
