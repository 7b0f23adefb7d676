"""The shipped alert rules and dashboard: valid, firing when they should, and asking only
for metrics the code exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import yaml
from prometheus_client import REGISTRY

import bot.metrics  # noqa: F401 - registers the bot's metrics
import worker.metrics  # noqa: F401 - registers the worker's metrics
from testing.support import ROOT

MONITORING = ROOT / "deploy" / "monitoring"
NAME = re.compile(r"\bimagine_[a-z_]+")
SUFFIXES = ("_bucket", "_sum", "_count", "_total", "_created")


def _exported() -> set[str]:
    names: set[str] = set()
    for family in REGISTRY.collect():
        names.add(family.name)
        names.update(sample.name for sample in family.samples)
        names.update(family.name + suffix for suffix in SUFFIXES)
    return {name for name in names if name.startswith("imagine_")}


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    promtool = shutil.which("promtool")
    assert promtool, "promtool is needed: apt-get install prometheus"
    return subprocess.run(
        [promtool, *args], cwd=MONITORING, capture_output=True, text=True, timeout=120
    )


def test_alert_rules_are_valid() -> None:
    checked = _promtool("check", "rules", "alerts.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_every_alert_fires_on_its_synthetic_series_and_not_on_healthy_ones() -> None:
    tested = _promtool("test", "rules", "alerts.test.yml")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    rules = yaml.safe_load((MONITORING / "alerts.yml").read_text())
    alerts = {rule["alert"] for group in rules["groups"] for rule in group["rules"]}
    cases = yaml.safe_load((MONITORING / "alerts.test.yml").read_text())
    firing = {
        case["alertname"]
        for test in cases["tests"]
        for case in test["alert_rule_test"]
        if case["exp_alerts"]
    }
    assert firing == alerts


def test_rules_and_dashboard_ask_only_for_exported_metrics() -> None:
    exported = _exported()
    rules = (MONITORING / "alerts.yml").read_text()
    dashboard = json.loads((MONITORING / "grafana" / "dashboards" / "imagine.json").read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    asked = set(NAME.findall(rules)) | {name for expr in exprs for name in NAME.findall(expr)}
    assert asked, "nothing asked"
    assert asked - exported == set()
    # The panels the dashboard promises.
    titles = {panel["title"] for panel in dashboard["panels"]}
    promised = {
        "Queue depth",
        "Images per second",
        "Update to photo p50 / p95",
        "Failures by kind",
        "Pacing wait p95",
        "Safety verdicts",
        "Workers alive",
    }
    assert promised <= titles


def test_the_monitoring_profile_mounts_the_shipped_files() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    for service in ("prometheus", "grafana"):
        assert compose["services"][service]["profiles"] == ["monitoring"]
        for mount in compose["services"][service]["volumes"]:
            source = mount.split(":")[0]
            assert (ROOT / source).exists(), source
            assert mount.endswith(":ro")
        assert all(port.startswith("127.0.0.1:") for port in compose["services"][service]["ports"])
    scrape = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    targets = {c["job_name"]: c["static_configs"][0]["targets"] for c in scrape["scrape_configs"]}
    assert targets == {"bot": ["bot:9810"], "worker": ["worker:9811"]}
