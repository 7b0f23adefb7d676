"""The Docker images and compose files, read as files (nothing here builds or runs them):
a named unprivileged user, writable paths that exist and belong to it, healthchecks, private
ports, and dependencies from the hashed locks the tests install too."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from testing.support import ROOT


@dataclass(frozen=True)
class Step:
    keyword: str
    args: str


def _stages(build_args: dict[str, str]) -> dict[str, list[Step]]:
    """Each stage's steps, its parents' included, with ARGs before the first FROM applied."""
    text = re.sub(r"\s*\\\n\s*", " ", (ROOT / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines()]
    steps = [Step(*[*line.split(None, 1), ""][:2]) for line in lines if line and line[0] != "#"]
    stages: dict[str, list[Step]] = {}
    current: list[Step] = []
    for step in steps:
        if step.keyword == "ARG" and not stages and not current:
            name, _, default = step.args.partition("=")
            build_args.setdefault(name, default)
        elif step.keyword == "FROM":
            parent, _, name = re.sub(r"\$\{(\w+)\}", lambda m: build_args[m[1]], step.args).split()
            current = list(stages.get(parent, []))
            stages[name] = current
        else:
            current.append(step)
    return stages


def _env(steps: list[Step]) -> dict[str, str]:
    env: dict[str, str] = {}
    for step in steps:
        if step.keyword == "ENV":
            for pair in shlex.split(step.args):
                name, _, value = pair.partition("=")
                env[name] = value
    return env


def _expand(text: str, values: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}", lambda m: values.get(m[1], m[0]), text)


class _Loader(yaml.SafeLoader):
    """YAML with Compose's `!reset` tag, kept as a marker."""


RESET = object()
_Loader.add_constructor("!reset", lambda loader, node: RESET)


def _compose(name: str = "docker-compose.yml") -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.load((ROOT / name).read_text(), Loader=_Loader)
    return loaded


IMAGES = {"bot": "bot", "worker": "worker"}
TORCH_BUILDS = ("cuda", "cpu")


@pytest.mark.parametrize("torch_build", TORCH_BUILDS)
@pytest.mark.parametrize("service", sorted(IMAGES))
def test_images_run_as_a_named_user_that_owns_every_writable_path(
    service: str, torch_build: str
) -> None:
    args = {"TORCH_BUILD": torch_build}
    steps = _stages(args)[IMAGES[service]]
    users = [i for i, step in enumerate(steps) if step.keyword == "USER"]
    assert [steps[i].args for i in users] == ["app"]
    before_user = steps[: users[0]]
    arg = next(s.args for s in before_user if s.keyword == "ARG" and s.args.startswith("APP_UID"))
    uid = int(arg.split("=")[1])
    assert uid >= 1000
    creation = " ".join(s.args for s in before_user if "useradd" in s.args)
    assert '--uid "${APP_UID}"' in creation and "--create-home" in creation
    env = _env(steps)
    assert env["HOME"] == "/home/app"
    compose = _compose()["services"][service]
    writable = {volume.split(":")[1] for volume in compose.get("volumes", [])}
    writable |= {path for key, path in env.items() if key == "HF_HOME"}
    runs = " && ".join(_expand(s.args, env) for s in before_user if s.keyword == "RUN")
    for path in writable:
        assert f"mkdir -p {path}" in runs.replace('"', ""), path
        assert f"chown app:app {path}" in runs.replace('"', ""), path
    if service == "worker":
        assert writable == {"/hf-cache"} and compose["environment"]["HF_HOME"] == "/hf-cache"


def _seconds(duration: str) -> int:
    units = {"s": 1, "m": 60, "h": 3600}
    return sum(int(n) * units[u] for n, u in re.findall(r"(\d+)([smh])", duration))


# Start periods: the bot starts in seconds; the worker's first start downloads the weights.
@pytest.mark.parametrize(
    ("service", "port", "start_s"), [("bot", 9810, 30), ("worker", 9811, 20 * 60)]
)
def test_healthchecks_ask_healthz_on_the_published_metrics_port(
    service: str, port: int, start_s: int
) -> None:
    compose = _compose()["services"][service]
    check = compose["healthcheck"]
    assert check["test"] == ["CMD", "python", "-m", "common.healthcheck", service]
    assert _seconds(check["start_period"]) >= start_s
    assert compose["environment"]["METRICS_PORT"] == port
    assert compose["environment"]["METRICS_HOST"] == "0.0.0.0"
    # Published for a Prometheus on the host, on its loopback only, at a host port an
    # operator can move (a second stack on one host).
    variable = f"{service.upper()}_METRICS_HOST_PORT"
    assert compose["ports"] == [f"127.0.0.1:${{{variable}:-{port}}}:{port}"]
    steps = _stages({})[IMAGES[service]]
    assert Step("EXPOSE", str(port)) in steps
    (healthcheck,) = [s.args for s in steps if s.keyword == "HEALTHCHECK"]
    assert f'"common.healthcheck", "{service}"' in healthcheck
    assert _seconds(re.search(r"--start-period=(\S+)", healthcheck)[1]) >= start_s  # type: ignore[index]


def test_redis_stays_on_the_internal_network_with_the_cpu_override_too() -> None:
    base, cpu = _compose(), _compose("docker-compose.cpu.yml")
    assert base["services"]["redis"]["networks"] == ["internal"]
    assert set(cpu["services"]) == {"bot", "worker"}
    for service in cpu["services"].values():
        assert not {"ports", "networks", "volumes"} & set(service)


def test_no_build_fetches_from_docker_hub_beyond_its_base_images() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert not dockerfile.startswith("# syntax=")
    steps = _stages({})["worker-deps-cpu"]
    args = [s.args for s in steps if s.keyword == "ARG" and s.args.startswith("TORCH_INDEX")]
    assert args == ["TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu"]


def test_redis_steps_down_to_its_own_user() -> None:
    # The image's entrypoint drops root for its `redis` user; a bare redis-server would not.
    command = _compose()["services"]["redis"]["command"]
    assert command.split("'")[1].startswith("exec docker-entrypoint.sh redis-server ")


def test_redis_has_a_memory_limit_and_never_evicts() -> None:
    redis = _compose()["services"]["redis"]
    command = (
        " ".join(redis["command"]) if isinstance(redis["command"], list) else redis["command"]
    )
    assert '--maxmemory "$$REDIS_MAXMEMORY"' in command
    assert "--maxmemory-policy noeviction" in command
    assert redis["environment"]["REDIS_MAXMEMORY"] == "${REDIS_MAXMEMORY:-1gb}"


def test_cpu_override_builds_cpu_torch_and_reserves_no_gpu() -> None:
    worker = _compose("docker-compose.cpu.yml")["services"]["worker"]
    assert worker["build"]["args"] == {
        "TORCH_BUILD": "cpu",
        "TORCH_INDEX_URL": "${TORCH_INDEX_URL:-https://download.pytorch.org/whl/cpu}",
    }
    assert worker["deploy"] is RESET
    assert worker["environment"]["DEVICE"] == "cpu"
    bot = _compose("docker-compose.cpu.yml")["services"]["bot"]
    assert bot["environment"]["JOB_TIMEOUT_S"] == worker["environment"]["JOB_TIMEOUT_S"]
    assert _compose()["services"]["worker"]["environment"]["DEVICE"] == "cuda"
    gpu = _compose()["services"]["worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert gpu[0]["capabilities"] == ["gpu"]
    installs = {build: _installs(build) for build in TORCH_BUILDS}
    assert installs["cuda"] == ["--require-hashes --no-deps -r requirements/worker.lock"]
    assert installs["cpu"] == [
        '--no-deps -r requirements/torch.txt --index-url "${TORCH_INDEX_URL}"',
        "--require-hashes --no-deps -r requirements/worker-cpu.lock",
    ]


def _installs(torch_build: str) -> list[str]:
    steps = _stages({"TORCH_BUILD": torch_build})["worker"]
    runs = " && ".join(s.args for s in steps if s.keyword == "RUN")
    return [m.strip() for m in re.findall(r"pip install ([^&]+)", runs)]


def _lock(name: str) -> dict[str, str]:
    """Pinned versions of a lock; every pin must carry its hashes."""
    text = (ROOT / "requirements" / name).read_text()
    blocks = re.findall(
        r"^([A-Za-z0-9._-]+)==(\S+)((?: \\\n\s+--hash=sha256:[0-9a-f]{64})+)", text, re.M
    )
    pinned = len(re.findall(r"^[A-Za-z0-9]", text, re.M))
    assert len(blocks) == pinned, f"{name}: a pin without hashes"
    return {canonicalize_name(n): v for n, v, _ in blocks}


def _wanted(*extras: str) -> list[Requirement]:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    found = [Requirement(r) for r in project["dependencies"]]
    for extra in extras:
        found += [Requirement(r) for r in project["optional-dependencies"][extra]]
    return [r for r in found if canonicalize_name(r.name) != "turbo-imagine-bot"]


LOCKS = {
    "bot.lock": ("bot",),
    "worker.lock": ("worker",),
    "worker-cpu.lock": ("worker",),
    "dev.lock": ("dev", "bot", "worker"),
}


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_locks_pin_every_dependency_with_hashes_within_pyproject(lock: str) -> None:
    pins = _lock(lock)
    torch = Requirement((ROOT / "requirements/torch.txt").read_text().split("\n")[-2])
    cuda_only = {name for name in _lock("worker.lock") if re.match("nvidia-|triton|cuda-", name)}
    if lock in ("bot.lock",):
        assert "torch" not in pins
    elif lock == "worker.lock":
        assert torch.specifier.contains(pins["torch"]) and cuda_only
    else:  # torch is installed on its own first, from the CPU index or a local wheel
        assert not ({"torch"} | cuda_only) & set(pins)
        pins["torch"] = str(next(iter(torch.specifier)).version)
    for requirement in _wanted(*LOCKS[lock]):
        version = pins[canonicalize_name(requirement.name)]
        assert requirement.specifier.contains(version), (requirement, version)
    # The tests run with exactly the versions the images install.
    dev = _lock("dev.lock")
    assert {n: v for n, v in pins.items() if n in dev} == {n: pins[n] for n in dev if n in pins}


def test_the_tests_install_from_the_dev_lock_with_hashes() -> None:
    script = (ROOT / "scripts/test.sh").read_text()
    assert "--require-hashes -r requirements/dev.lock" in script
    assert "--no-deps -r requirements/torch.txt" in script
    assert "'.[dev]'" not in script


def test_the_build_context_holds_what_the_images_copy() -> None:
    allowed = {line[1:].rstrip("/") for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.startswith("!")}  # fmt: skip
    for steps in _stages({}).values():
        for step in steps:
            if step.keyword == "COPY":
                for source in step.args.split()[:-1]:
                    assert source.split("/")[0] in allowed, source
                    assert (ROOT / source).exists(), source


def test_webhook_override_scales_bots_behind_a_tls_proxy() -> None:
    hook = _compose("docker-compose.webhook.yml")["services"]
    proxy, bot = hook["proxy"], hook["bot"]
    # Telegram calls 443; the proxy is the only thing published, so `--scale bot=N` works.
    assert "80:80" in proxy["ports"] and "443:443" in proxy["ports"]
    assert bot["ports"] is RESET
    assert "./deploy/Caddyfile:/etc/caddy/Caddyfile:ro" in proxy["volumes"]
    # The proxy reaches every replica at the port the bot listens on, by the service's name.
    caddy = (ROOT / "deploy" / "Caddyfile").read_text()
    dynamic = re.search(r"dynamic a \{\s*name (\S+)\s*port (\d+)", caddy)
    assert dynamic is not None
    assert (dynamic[1], int(dynamic[2])) == ("bot", int(bot["environment"]["WEBHOOK_PORT"]))
    assert bot["environment"]["WEBHOOK_HOST"] == "0.0.0.0"
    # Redis stays private with the override too.
    assert "internal" not in proxy["networks"]
    assert _compose()["services"]["redis"]["networks"] == ["internal"]
