"""The alerting rules shipped in ``ops/prometheus/``: every rule complete, every metric it reads one the code
exports (names collected from the code's own metric objects and a real scrape), and, where Prometheus's
``promtool`` is installed, the rules evaluated against made-up series: each fires when it should and a
healthy deployment fires none."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.api_client import make_client

OPS = Path(__file__).resolve().parent.parent / "ops" / "prometheus"
RULES = OPS / "alerts.yml"
SEVERITIES = {"warning", "critical"}
PROMETHEUS_OWN = {"up"}  # made by Prometheus for every target, not by the service
SERIES_OF = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_count", "_sum", "_created"),
             "gauge": ("",)}
KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left",
            "group_right", "inf", "nan"}


def _rules() -> list[dict]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects: what is left once strings, label matchers, ranges,
    grouping clauses, functions and keywords are taken out."""
    expr = re.sub(r'"(?:\\.|[^"\\])*"', '""', expr)
    expr = re.sub(r"\{[^}]*\}", " ", expr)
    expr = re.sub(r"\[[^\]]*\]", " ", expr)
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    names = set()
    for match in re.finditer(r"(?<![\w:.])[A-Za-z_:][\w:]*", expr):
        followed_by_call = re.match(r"\s*\(", expr[match.end():])
        if match.group() not in KEYWORDS and not followed_by_call:
            names.add(match.group())
    return names


def test_the_name_finder_sees_metrics_and_nothing_else():
    expr = ('sum by (code) (rate(deepfake_job_failures_total{code=~"a|b"}[15m])) / on () group_left () '
            'sum(rate(other_total[5m] offset 1h)) > 0.25 and up{job="x"} == 1e3 unless absent(third)')
    assert metric_names(expr) == {"deepfake_job_failures_total", "other_total", "up", "third"}


def _worker_series() -> set[str]:
    """What each worker's exporter serves: the series of every metric object ``core.metrics`` makes."""
    from core import metrics

    names = set()
    for metric in vars(metrics._events()).values():
        for family in metric.collect():
            names |= {family.name + suffix for suffix in SERIES_OF[family.type]}
    return names


def _api_series() -> set[str]:
    """What ``GET /metrics`` serves, scraped."""
    with make_client(scopes=("admin",)) as client:
        answer = client.get("/metrics")
    assert answer.status_code == 200, answer.text
    return {sample.name for family in text_string_to_metric_families(answer.text) for sample in family.samples}


def test_every_rule_is_complete_and_named_once():
    rules = _rules()
    assert len(rules) >= 8
    names = [rule["alert"] for rule in rules]
    assert len(names) == len(set(names)), names
    for rule in rules:
        assert {"alert", "expr", "for", "labels", "annotations"} <= rule.keys(), rule
        assert re.fullmatch(r"\d+[smh]", str(rule["for"])), rule["alert"]
        assert rule["labels"].get("severity") in SEVERITIES, rule["alert"]
        assert rule["annotations"].get("summary") and rule["annotations"].get("description"), rule["alert"]


def test_every_metric_a_rule_reads_is_one_the_code_exports(clean_db):
    exported = _worker_series() | _api_series()
    assert {"deepfake_jobs", "deepfake_queue_depth", "deepfake_job_failures_total"} <= exported
    for rule in _rules():
        unknown = metric_names(rule["expr"]) - exported - PROMETHEUS_OWN
        assert not unknown, f"{rule['alert']} reads {unknown}, which nothing exports"


def test_the_rules_name_the_scrape_jobs_of_the_shipped_configuration():
    config = yaml.safe_load((OPS / "prometheus.yml").read_text())
    assert config["rule_files"] == ["alerts.yml"]
    jobs = {scrape["job_name"] for scrape in config["scrape_configs"]}
    used = {job for rule in _rules() for job in re.findall(r'job="([^"]+)"', rule["expr"])}
    assert used and used <= jobs, (used, jobs)


# What promtool evaluates: series as Prometheus would scrape them, one sample a minute.
API = 'job="deepfake-api", instance="api:8000"'
WORKER = 'job="deepfake-worker", instance="10.0.0.5:9100"'


def _healthy(minutes: int = 90) -> list[dict]:
    """A deployment at work: API and a worker up, jobs flowing and ending, webhooks delivered."""
    return [
        {"series": f"up{{{API}}}", "values": f"1x{minutes}"},
        {"series": f"up{{{WORKER}}}", "values": f"1x{minutes}"},
        {"series": f'deepfake_jobs{{status="queued", lane="interactive", {API}}}', "values": f"2x{minutes}"},
        {"series": f'deepfake_jobs{{status="queued", lane="bulk", {API}}}', "values": f"0x{minutes}"},
        {"series": f'deepfake_queue_depth{{lane="interactive", {API}}}', "values": f"2x{minutes}"},
        {"series": f'deepfake_job_duration_seconds_count{{lane="interactive", status="succeeded", {WORKER}}}',
         "values": f"0+60x{minutes}"},
        {"series": f'deepfake_job_failures_total{{code="corrupt_media", {WORKER}}}', "values": f"0+1x{minutes}"},
        {"series": f'deepfake_webhook_attempts_total{{result="succeeded", {WORKER}}}', "values": f"0+60x{minutes}"},
    ]


def _replace(series: list[dict], name: str, values: str) -> list[dict]:
    return [dict(s, values=values) if s["series"].startswith(name) else s for s in series]


def _plus(series: str, values: str) -> list[dict]:
    """The healthy deployment with one more series."""
    return [*_healthy(), {"series": series, "values": values}]


SCENARIOS = {
    # alert: (input series, minutes, labels of each alert expected, its summary)
    "DeepfakeInteractiveQueueStalled": (
        _replace(_healthy(), "deepfake_job_duration_seconds_count", "0+60x30 1800x60"), "60m",
        {"lane": "interactive", "severity": "critical"},
        "2 interactive jobs queued and none finished for 10 minutes or more"),
    "DeepfakeInteractiveBacklogGrowing": (
        _replace(_healthy(), 'deepfake_queue_depth{lane="interactive"', "0+2x90"), "60m",
        {"lane": "interactive", "severity": "warning", "job": "deepfake-api", "instance": "api:8000"},
        "Interactive queue holds 120 jobs and has grown for 15 minutes"),
    "DeepfakeNoWorkers": (
        _replace(_healthy(), 'up{job="deepfake-worker"', "1x30 0x60"), "60m",
        {"severity": "critical"}, "No worker's metrics answered for 5 minutes"),
    "DeepfakeJobFailureRateHigh": (
        _plus(f'deepfake_job_failures_total{{code="fetch_failed", {WORKER}}}', "0+30x90"), "60m",
        {"code": "fetch_failed", "severity": "warning"}, "50% of jobs fail with fetch_failed"),
    "DeepfakeWebhookDeliveriesFailing": (
        _plus(f'deepfake_webhook_attempts_total{{result="failed", {WORKER}}}', "0x50 3x40"), "60m",
        {"severity": "warning"}, "3 webhook deliveries gave up after their last attempt in 30 minutes"),
    "DeepfakeApiOrDatabaseUnavailable": (
        _replace(_healthy(), "up{job=\"deepfake-api\"", "1x50 0x40"), "60m",
        {"severity": "critical", "job": "deepfake-api", "instance": "api:8000"},
        "The API at api:8000 has not answered /metrics for 2 minutes: API or database down"),
    "DeepfakeBrokerUnavailable": (
        [s for s in _healthy() if "deepfake_queue_depth" not in s["series"]], "60m",
        {"severity": "critical", "job": "deepfake-api", "instance": "api:8000"},
        "Redis (the broker) has been unreachable from the API for 2 minutes"),
}


def _promtool_tests() -> dict:
    rules = {rule["alert"]: rule for rule in _rules()}
    tests = []
    for alert, (series, at, labels, summary) in SCENARIOS.items():
        expected = {"exp_labels": labels,
                    "exp_annotations": {"summary": summary, "description": rules[alert]["annotations"]["description"]}}
        tests.append({"interval": "1m", "input_series": series,
                      "alert_rule_test": [{"eval_time": at, "alertname": alert, "exp_alerts": [expected]}]})
    quiet = [{"eval_time": "60m", "alertname": alert, "exp_alerts": []} for alert in rules]
    tests.append({"interval": "1m", "input_series": _healthy(), "alert_rule_test": quiet})
    return {"rule_files": [str(RULES)], "evaluation_interval": "1m", "tests": tests}


def test_promtool_finds_the_rules_and_the_configuration_valid():
    promtool = _promtool()
    for args in (["check", "rules", str(RULES)], ["check", "config", "--syntax-only", str(OPS / "prometheus.yml")]):
        done = subprocess.run([promtool, *args], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr


def test_each_alert_fires_when_it_should_and_none_while_all_is_well(tmp_path):
    promtool = _promtool()
    spec = tmp_path / "alerts.test.yml"
    spec.write_text(yaml.safe_dump(_promtool_tests(), sort_keys=False))
    done = subprocess.run([promtool, "test", "rules", str(spec)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def _promtool() -> str:
    found = shutil.which("promtool")
    if not found:  # not in the test environment's packages: Debian's `prometheus` package has it
        pytest.skip("promtool is not installed (apt-get install prometheus)")
    return found
