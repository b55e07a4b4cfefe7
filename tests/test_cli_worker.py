"""``deepfake worker`` as the README and docker-compose.yml write it: the CLI parses the line and
celery accepts every option it is handed (parsed by celery's own command, nothing started)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest
import yaml

from cli.main import build_parser, worker_argv

REPO = Path(__file__).resolve().parent.parent


def _readme_lines() -> list[list[str]]:
    text = (REPO / "README.md").read_text()
    return [shlex.split(line.split("#")[0]) for line in re.findall(r"^(deepfake worker.*)$", text, re.M)]


def _compose_lines() -> list[list[str]]:
    services = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]
    return [service["command"] for service in services.values()
            if service.get("command", [None])[:2] == ["deepfake", "worker"]]


def _celery_params(argv: list[str]) -> dict:
    """What celery's own ``worker`` command makes of the arguments we pass it (raises on a bad one)."""
    from celery.bin.base import CLIContext
    from celery.bin.worker import worker

    from workers.celery_app import app

    assert argv[1:6] == ["-m", "celery", "-A", "workers.celery_app", "worker"]
    obj = CLIContext(app=app, no_color=True, workdir=None, quiet=True)
    return worker.make_context("worker", argv[6:], obj=obj).params


def test_the_documented_lines_are_there():
    assert ["deepfake", "worker", "--concurrency", "2"] in _readme_lines()
    assert ["deepfake", "worker", "--concurrency", "2"] in _compose_lines()
    assert len(_compose_lines()) == 2  # the CPU and the GPU worker


@pytest.mark.parametrize("line", _readme_lines() + _compose_lines(), ids=" ".join)
def test_documented_worker_lines_parse(line):
    args = build_parser().parse_args(line[1:])
    params = _celery_params(worker_argv(args))
    concurrency = line[line.index("--concurrency") + 1] if "--concurrency" in line else None
    assert params["concurrency"] == (int(concurrency) if concurrency else None)


def test_worker_options_reach_celery():
    args = build_parser().parse_args(["worker", "--concurrency", "3", "--queues", "bulk,webhooks",
                                      "--loglevel", "WARNING", "--", "--max-tasks-per-child", "50"])
    params = _celery_params(worker_argv(args))
    assert params["concurrency"] == 3
    assert params["queues"] == ["bulk", "webhooks"]
    assert params["max_tasks_per_child"] == 50
    assert params["loglevel"] == 30  # logging.WARNING


def test_a_misspelt_option_is_refused_by_the_cli():
    with pytest.raises(SystemExit):
        build_parser().parse_args(["worker", "--concurency", "2"])
    args = build_parser().parse_args(["worker", "--", "--concurency", "2"])  # passed on: celery refuses it
    with pytest.raises(click.UsageError):
        _celery_params(worker_argv(args))
