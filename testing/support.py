"""Real processes for the tests: a private redis-server, and the bot and worker as subprocesses."""

from __future__ import annotations

import itertools
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Final

import redis

ROOT: Final = Path(__file__).resolve().parents[1]
TOKEN: Final = "123456:TEST-token-never-logged"


def bot_refusing_to_start(cwd: Path, settings: dict[str, str]) -> str:
    """Run `python -m bot` with only `settings` in its environment (no .env in `cwd`), expect
    it to stop at once with exit status 2 and no traceback, and return its one stderr line."""
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), **settings}
    out = subprocess.run(
        [sys.executable, "-m", "bot"], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    (line,) = [line for line in out.stderr.splitlines() if line.strip()]
    return line


def _below_ephemeral() -> range:
    """Ports the kernel never hands out on its own (it picks outgoing connections' ports,
    and port 0's, from `ip_local_port_range`), so one found free stays free until used."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32_768
    return range(10_000, max(10_001, low))


_PORTS = _below_ephemeral()
# Each test process starts at a place of its own in the range, and never offers a port twice.
_next_port = itertools.count(os.getpid() * 97 % len(_PORTS))


def free_port() -> int:
    """A port on 127.0.0.1 for a server a test starts: outside the kernel's ephemeral range,
    and never the same twice in one process, so nothing takes it between this check and the
    server's bind."""
    for _ in range(len(_PORTS)):
        port = _PORTS[next(_next_port) % len(_PORTS)]
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port below the ephemeral range")


class RedisServer:
    """A redis-server of the tests' own on a free port; never a shared one."""

    def __init__(self, workdir: Path, *, appendonly: bool = False) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is required for the tests (apt install redis-server)")
        self.binary = binary
        self.workdir = workdir
        self.appendonly = appendonly
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        args += ["--appendonly", "yes" if self.appendonly else "no", "--dir", str(self.workdir)]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        client.close()
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


class Process:
    """`python -m bot` or `python -m worker`, with its output kept in a log file."""

    def __init__(
        self, module: str, env: dict[str, str], workdir: Path, *, args: list[str] | None = None
    ) -> None:
        self.module = module
        self.log_path = workdir / f"{module}-{time.monotonic_ns()}.log"
        self._log: IO[bytes] = self.log_path.open("wb")
        full_env = {**os.environ, **env, "PYTHONUNBUFFERED": "1", "HF_HUB_OFFLINE": "1"}
        full_env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])
        )
        # The working directory is a temp dir so no developer's .env is picked up.
        self.proc = subprocess.Popen(
            [sys.executable, "-m", module, *(args or [])],
            env=full_env,
            cwd=workdir,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_output(self, pattern: str, timeout: float = 60) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(pattern, self.output())
            if found:
                return found
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.module} exited early:\n{self.output()[-3000:]}")
            time.sleep(0.05)
        raise AssertionError(f"{pattern!r} not seen from {self.module}:\n{self.output()[-3000:]}")

    def signal(self, sig: signal.Signals) -> None:
        self.proc.send_signal(sig)

    def stop(self, timeout: float = 15) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT if "bot" in self.module else signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()
        return int(self.proc.returncode)
