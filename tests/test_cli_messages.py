"""The CLI as a newcomer meets it: one line saying what to do instead of a traceback, help that names
every option's default, no library chatter, nothing left in the folder the user is in."""

from __future__ import annotations

import http.server
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _cli(*args: str, cwd=None, env=None, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cli", *args], capture_output=True, text=True, timeout=120,
                          cwd=cwd, env=env, **kwargs)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _one_line_error(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    return lines[0]


def test_a_stopped_api_is_one_line_that_says_what_to_do():
    url = f"http://127.0.0.1:{_free_port()}"
    for args in (("backlog", "results", "some-batch", "--api", url),
                 ("backlog", "submit", str(REPO / "tests"), "--api", url, "--state", os.devnull)):
        proc = _cli(*args)
        line = _one_line_error(proc.stderr)
        assert proc.returncode == 1 and url in line and "deepfake serve" in line and "--api" in line


class _LongExport(http.server.BaseHTTPRequestHandler):
    """An API whose export of any batch is 200,000 rows: more than a pipe holds."""

    def do_GET(self):
        body = b"".join(b'{"ref": "%d"}\n' % i for i in range(200_000))
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args):
        pass


def test_a_reader_that_stops_early_is_no_traceback():
    """``deepfake backlog results ... | head -1``: the reader goes away; the CLI stops quietly with 141."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _LongExport)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        proc = subprocess.Popen([sys.executable, "-m", "cli", "backlog", "results", "b", "--api",
                                 f"http://127.0.0.1:{server.server_address[1]}"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert proc.stdout.readline().startswith('{"ref": "0"}')
        proc.stdout.close()  # what `head -1` does after its line
        with proc.stderr:
            stderr = proc.stderr.read()
        assert proc.wait(timeout=60) == 141
    finally:
        server.shutdown()
        server.server_close()
    assert stderr == "", stderr


def test_serve_on_a_taken_port_says_so_before_starting_anything(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {**os.environ, "DEEPFAKE_DATA_DIR": str(tmp_path / "data")}
        proc = _cli("serve", "--port", str(port), env=env)
    line = _one_line_error(proc.stderr)
    assert proc.returncode == 1 and f"127.0.0.1:{port}" in line and "--port" in line
    assert "serving on" not in proc.stdout
    assert not (tmp_path / "data").exists(), "nothing was set up for a server that could not start"


def test_serve_links_follow_its_port_unless_the_public_url_is_set(monkeypatch):
    from cli.serve import public_url_follows_port
    from core.settings import get_settings

    monkeypatch.setenv("DEEPFAKE_PUBLIC_URL", "unset below; restored after the test")
    monkeypatch.delenv("DEEPFAKE_PUBLIC_URL")
    get_settings.cache_clear()
    try:
        assert public_url_follows_port("127.0.0.1", 8101).public_url == "http://127.0.0.1:8101"
        assert os.environ["DEEPFAKE_PUBLIC_URL"] == "http://127.0.0.1:8101", "the embedded worker reads it too"
        monkeypatch.delenv("DEEPFAKE_PUBLIC_URL")
        get_settings.cache_clear()
        assert public_url_follows_port("0.0.0.0", 8102).public_url == "http://127.0.0.1:8102"
        monkeypatch.setenv("DEEPFAKE_PUBLIC_URL", "https://moderation.example.org")
        get_settings.cache_clear()
        assert public_url_follows_port("127.0.0.1", 8103).public_url == "https://moderation.example.org"
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


def _parsers(parser):
    yield parser
    for action in parser._actions:
        if action.choices and isinstance(action.choices, dict):
            for child in action.choices.values():
                yield from _parsers(child)


def test_every_option_has_a_line_of_help_and_shows_its_default():
    import argparse

    from cli.main import build_parser

    for parser in _parsers(build_parser()):
        formatter = parser.formatter_class(parser.prog)
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            where = f"{parser.prog} {'/'.join(action.option_strings) or action.dest}"
            assert action.help, f"{where}: no help text"
            if action.option_strings and action.default not in (None, False):
                assert "default" in formatter._get_help_string(action), f"{where}: the default is not shown"


def test_serve_help_shows_each_option_and_its_default():
    proc = _cli("serve", "--help")
    assert proc.returncode == 0
    assert "(default: 8000)" in proc.stdout and "(default: 127.0.0.1)" in proc.stdout
    assert "DEEPFAKE_PUBLIC_URL" in proc.stdout and "--verbose" in proc.stdout


def test_tensorflow_starts_without_a_word_on_stderr():
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    code = ("from cli import quiet; quiet.quiet_environment(); quiet.import_tensorflow(); import tensorflow as tf;"
            "tf.config.list_physical_devices(); print(int(tf.reduce_sum(tf.constant([1, 2]))))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "3"
    assert proc.stderr == "", proc.stderr


def test_noise_is_told_from_what_a_user_needs():
    from cli.quiet import is_noise

    noise = ["WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n",
             "I0000 00:00:1796070767.718458   10679 port.cc:153] oneDNN custom operations are on.\n",
             "E0000 00:00:1796070771.415930   10679 cuda_platform.cc:52] failed call to cuInit: INTERNAL: x\n",
             "[2026-11-30 20:35:03,954: INFO/Beat] Scheduler: Sending due task dispatch-webhooks "
             "(deepfake.dispatch_webhooks)\n",
             "[2026-11-30 20:35:14,047: INFO/MainProcess] Task deepfake.recover_jobs[2984-6497] received\n",
             "[2026-11-30 20:35:09,022: INFO/MainProcess] Task deepfake.dispatch_items[450a-55c4] succeeded in "
             "0.0026s: 0\n"]
    kept = ["[2026-11-30 20:35:09,022: INFO/MainProcess] Task deepfake.process_job[450a-55c4] succeeded in 0.5s\n",
            "[2026-11-30 20:35:09,022: ERROR/MainProcess] Task deepfake.recover_jobs[450a-55c4] raised unexpected\n",
            "Traceback (most recent call last):\n", "E0000 00:00:17.1 10679 some_kernel.cc:52] out of memory\n"]
    assert [is_noise(line) for line in noise] == [True] * len(noise)
    assert [is_noise(line) for line in kept] == [False] * len(kept)


def test_backlog_state_lives_under_the_data_folder_not_where_the_user_is(tmp_path, monkeypatch):
    from cli.backlog import _state_path
    from core.settings import get_settings

    monkeypatch.chdir(tmp_path)
    path = _state_path(str(tmp_path / "inbox"), None)
    assert path.parent == get_settings().data_dir / "backlog" and path.parent.is_dir()
    assert _state_path(str(tmp_path / "inbox"), None) == path, "the same source resumes from the same file"
    assert _state_path(str(tmp_path / "other"), None) != path
    assert list(tmp_path.iterdir()) == []


def test_dev_resolves_paths_against_the_callers_folder(tmp_path):
    """``proj/dev scan notes.txt`` from another folder reads that folder's file (not ``source_not_found``)."""
    stamp, project = REPO / ".venv" / ".installed", REPO / "pyproject.toml"
    if not stamp.exists() or project.stat().st_mtime > stamp.stat().st_mtime:
        pytest.skip("./dev would reinstall the environment first")
    (tmp_path / "notes.txt").write_text("not media")
    env = {**os.environ, "DEEPFAKE_DATA_DIR": str(tmp_path / "data")}
    proc = subprocess.run([str(REPO / "dev"), "scan", "--json", "notes.txt"], capture_output=True, text=True,
                          cwd=tmp_path, env=env, timeout=300)
    assert '"code": "unsupported_media"' in proc.stdout, proc.stdout + proc.stderr
    assert proc.returncode == 1


@pytest.mark.parametrize("command", [("worker",), ("beat",), ("api",), ("webhook-secret",)])
def test_a_bad_setting_is_one_line_naming_the_variable_value_and_what_it_accepts(command):
    """Before anything starts: the API and the workers fail fast with the line, not pydantic's report."""
    env = {**os.environ, "DEEPFAKE_AUTH": "maybe", "DEEPFAKE_MAX_UPLOAD_BYTES": "lots"}
    proc = _cli(*command, env=env)
    line = _one_line_error(proc.stderr)
    assert proc.returncode == 2, proc.stderr
    assert "DEEPFAKE_AUTH='maybe'" in line and "'on' or 'off'" in line
    assert "DEEPFAKE_MAX_UPLOAD_BYTES='lots'" in line and "whole number" in line


def test_a_bad_setting_names_the_variable_it_was_read_from(monkeypatch):
    from core.settings import SettingsError, get_settings

    monkeypatch.setenv("WEBHOOK_RETRY_SCHEDULE", "soon")
    get_settings.cache_clear()
    try:
        with pytest.raises(SettingsError, match=r"^WEBHOOK_RETRY_SCHEDULE='soon' is not valid: expected "
                                                r"comma-separated non-negative seconds"):
            get_settings()
    finally:
        monkeypatch.delenv("WEBHOOK_RETRY_SCHEDULE")
        get_settings.cache_clear()


@pytest.mark.parametrize(("args", "says"), [
    (("scan", "--processes", "0", "photo.jpg"), "--processes: 0 is not between 1 and"),
    (("scan", "--processes", "-2", "photo.jpg"), "--processes: -2 is not between 1 and"),
    (("scan", "--processes", "100000", "photo.jpg"), "--processes: 100000 is not between 1 and"),
    (("api", "--workers", "0"), "--workers: 0 is not between 1 and"),
    (("worker", "--concurrency", "100000"), "--concurrency: 100000 is not between 1 and"),
    (("backlog", "submit", "inbox", "--parallel", "0"), "--parallel: 0 is below 1"),
])
def test_process_counts_past_sense_are_refused_in_one_line(args, says):
    proc = _cli(*args)
    line = _one_line_error(proc.stderr)
    assert proc.returncode == 2 and says in line and "--help" in line, line


def test_process_counts_go_up_to_twice_the_cores():
    import argparse

    from cli.main import process_count
    from pipeline.threads import available_cores

    assert process_count("1") == 1 and process_count(str(2 * available_cores())) == 2 * available_cores()
    with pytest.raises(argparse.ArgumentTypeError, match="per core"):
        process_count(str(2 * available_cores() + 1))


def test_every_command_describes_itself_in_plain_text():
    """In the command list and atop its own --help; no reStructuredText markup (``x``) shown raw."""
    import argparse

    from cli.main import build_parser

    for parser in _parsers(build_parser()):
        assert parser.description, f"{parser.prog}: no description atop its --help"
        assert "``" not in parser.format_help(), f"{parser.prog}: raw markup in its --help"
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                listed = {choice.dest for choice in action._choices_actions if choice.help}
                assert listed == set(action.choices), f"{parser.prog}: commands listed without a line"


def test_serve_worker_hides_celerys_running_as_root_warning_and_no_other():
    from cli.main import serve_worker_argv

    argv = serve_worker_argv(verbose=False)
    assert argv[argv.index("-m"):argv.index("-m") + 5] == ["-m", "celery", "-A", "workers.celery_app", "--quiet"]
    python = argv[:argv.index("-m")]  # the interpreter and its options, as the worker is started
    code = ("import warnings; from celery.platforms import _warn_or_raise_security_error as warn; "
            "warn(0, 0, 0, 0, False); warnings.warn('a warning the user needs')")
    proc = subprocess.run([*python, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "superuser" not in proc.stderr and "a warning the user needs" in proc.stderr, proc.stderr
    shown = subprocess.run([*serve_worker_argv(verbose=True)[:1], "-c", code], capture_output=True, text=True,
                           timeout=60)
    assert "superuser privileges" in shown.stderr  # the check above would pass on a warning never raised


@pytest.mark.parametrize("command", ["api", "serve"])
def test_auth_off_beyond_loopback_is_a_configuration_error(command):
    """Exit status 2, as README says and as the other configuration errors use; nothing starts."""
    proc = _cli(command, "--host", "0.0.0.0", "--port", str(_free_port()), env={**os.environ, "DEEPFAKE_AUTH": "off"})
    line = _one_line_error(proc.stderr)
    assert proc.returncode == 2 and "DEEPFAKE_AUTH=off" in line and "0.0.0.0" in line
    readme = (REPO / "README.md").read_text()
    assert "loopback (one `error:` line, exit status 2" in readme


def test_a_runtime_the_model_cannot_run_stops_a_parallel_scan_before_any_process_starts(tmp_path):
    import json
    import shutil

    from pipeline.classifier import FAST_MODEL_DIR
    from tests import media

    model_dir = tmp_path / "model"
    shutil.copytree(FAST_MODEL_DIR, model_dir)
    meta = json.loads((model_dir / "model.json").read_text())
    meta.pop("onnx", None)
    (model_dir / "model.json").write_text(json.dumps(meta))
    photos = []
    for name in ("a.jpg", "b.jpg"):
        photos.append(tmp_path / name)
        media.write(photos[-1], media.jpeg_bytes(media.astronaut()))
    env = {**os.environ, "DEEPFAKE_INFERENCE_RUNTIME": "onnx"}
    proc = _cli("scan", "--model", str(model_dir), "--processes", "2", *map(str, photos), env=env)
    line = _one_line_error(proc.stderr)
    assert proc.returncode == 2 and "the model cannot be loaded" in line and "no ONNX export" in line


@pytest.mark.parametrize("command", [("serve",), ("worker",), ("api",)])
def test_a_missing_model_stops_every_server_before_it_starts(command, tmp_path):
    """Not "serving on ..." and a worker failing every upload: one line naming the variable, exit 2."""
    env = {**os.environ, "DEEPFAKE_MODEL_PATH": str(tmp_path / "nope"), "DEEPFAKE_DATA_DIR": str(tmp_path / "data")}
    proc = _cli(*command, "--port", str(_free_port()), env=env) if command != ("worker",) else _cli(*command, env=env)
    line = _one_line_error(proc.stderr)
    assert proc.returncode == 2 and "DEEPFAKE_MODEL_PATH" in line and str(tmp_path / "nope") in line, line
    assert "serving on" not in proc.stdout
    assert not (tmp_path / "data").exists(), "nothing was set up for a server that could not start"


def test_a_celery_worker_started_without_the_cli_stops_on_a_missing_model(tmp_path):
    """``celery -A workers.celery_app worker`` (a container's command): the one line, exit 2, no traceback while
    Celery goes on running."""
    env = {**os.environ, "DEEPFAKE_MODEL_PATH": str(tmp_path / "nope"), "DEEPFAKE_DATA_DIR": str(tmp_path / "data")}
    env.pop("REDIS_URL", None)
    proc = subprocess.run([sys.executable, "-m", "celery", "-A", "workers.celery_app", "--quiet", "worker",
                           "--pool", "solo"], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("error: the model cannot be loaded"), proc.stderr
    assert "DEEPFAKE_MODEL_PATH" in proc.stderr


@pytest.mark.parametrize(("args", "says"), [
    (("serve", "--port", "99999"), "--port: 99999 is not a port: expected 0 to 65535"),
    (("api", "--port", "-1"), "--port: -1 is not a port: expected 0 to 65535"),
])
def test_a_port_past_65535_is_one_line(args, says):
    proc = _cli(*args)
    line = _one_line_error(proc.stderr)
    assert proc.returncode == 2 and says in line and f"deepfake {args[0]} --help" in line, line


def test_a_data_folder_that_is_a_file_is_one_line_naming_it(tmp_path):
    (tmp_path / "data").write_text("not a folder")
    env = {**os.environ, "DEEPFAKE_DATA_DIR": str(tmp_path / "data")}
    env.pop("REDIS_URL", None)
    proc = _cli("serve", "--port", str(_free_port()), env=env)
    line = _one_line_error(proc.stderr)
    assert proc.returncode == 2 and f"DEEPFAKE_DATA_DIR='{tmp_path / 'data'}'" in line and "folder" in line, line
    assert "serving on" not in proc.stdout


def test_a_database_url_that_is_no_url_is_one_line_naming_it():
    proc = _cli("keys", "list", env={**os.environ, "DATABASE_URL": "notaurl"})
    line = _one_line_error(proc.stderr)
    assert proc.returncode == 2 and "DATABASE_URL='notaurl' is not valid: expected a database URL" in line, line


def test_serve_with_redis_unreachable_is_one_line_naming_redis_url(tmp_path):
    """Not a worker retrying its connection a hundred times behind an API that accepts jobs."""
    url = f"redis://127.0.0.1:{_free_port()}/0"
    env = {**os.environ, "REDIS_URL": url, "DEEPFAKE_DATA_DIR": str(tmp_path / "data")}
    proc = _cli("serve", "--port", str(_free_port()), env=env)
    line = _one_line_error(proc.stderr)
    assert proc.returncode == 2 and f"REDIS_URL='{url}'" in line and "embedded broker" in line, line
    assert "serving on" not in proc.stdout


class _KeyedApi(http.server.BaseHTTPRequestHandler):
    """An API that wants a key, as the service does unless DEEPFAKE_AUTH=off; records what it was sent."""

    posted: list[str] = []

    def _refuse(self):
        body = b'{"error": {"code": "unauthorized", "message": "send an API key: Authorization: Bearer <key>"}}'
        self.send_response(401)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self._refuse()

    def do_POST(self):
        _KeyedApi.posted.append(self.path)
        self._refuse()

    def log_message(self, *_args):
        pass


def test_backlog_submit_without_a_key_says_to_set_deepfake_api_key_before_sending_anything(tmp_path):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _KeyedApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {k: v for k, v in os.environ.items() if k != "DEEPFAKE_API_KEY"}
    env["DEEPFAKE_DATA_DIR"] = str(tmp_path / "data")
    try:
        api = f"http://127.0.0.1:{server.server_address[1]}"
        submitted = _cli("backlog", "submit", str(REPO / "tests"), "--api", api, env=env)
        exported = _cli("backlog", "results", "some-batch", "--api", api, env=env)
    finally:
        server.shutdown()
        server.server_close()
    for proc in (submitted, exported):
        line = _one_line_error(proc.stderr)
        assert proc.returncode == 1 and "set DEEPFAKE_API_KEY" in line and "Bearer" not in line, line
    assert _KeyedApi.posted == [], "nothing is sent before the service said whether it wants a key"
    assert not (tmp_path / "data" / "backlog").exists(), "no resume file for a batch never made"


def test_backlog_submit_of_nothing_there_is_a_usage_error(tmp_path):
    proc = _cli("backlog", "submit", str(tmp_path / "nonexistent"), "--api", f"http://127.0.0.1:{_free_port()}")
    line = _one_line_error(proc.stderr)
    assert proc.returncode == 2 and f"{tmp_path / 'nonexistent'} does not exist" in line, line


@pytest.mark.parametrize("command", [("scan",), ("serve",), ("worker",), ("keys", "list")])
def test_an_unknown_option_is_named_by_its_command(command):
    """Not "paths required" for `scan --bogus`, and `deepfake serve --help`, not `deepfake --help`."""
    proc = _cli(*command, "--bogus")
    line = _one_line_error(proc.stderr)
    prog = " ".join(("deepfake", *command))
    assert proc.returncode == 2 and "unrecognized arguments: --bogus" in line and f"`{prog} --help`" in line, line


def test_options_known_to_the_command_still_parse():
    from cli.main import build_parser

    args = build_parser().parse_args(["scan", "--proc", "1", "--json", "a.jpg"])
    assert args.processes == 1 and args.json and args.paths == ["a.jpg"]
    args = build_parser().parse_args(["worker", "-c1", "--", "--prefetch-multiplier", "1"])
    assert args.concurrency == 1 and args.celery_args[-2:] == ["--prefetch-multiplier", "1"]
    assert build_parser().parse_args(["scan", "--", "-odd-name.jpg"]).paths == ["-odd-name.jpg"]


def test_a_folder_with_no_media_is_one_error_line(tmp_path):
    proc = _cli("scan", str(tmp_path))
    line = _one_line_error(proc.stderr)
    assert proc.returncode == 2 and "no media files found" in line and str(tmp_path) in line
