"""The ``deepfake`` command: scan, serve, api, worker, migrate, keys, train, evaluate."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
from pathlib import Path

from cli import failures, quiet
from cli.files import media_files
from cli.models import add_model_commands
from cli.supervisor import Supervisor
from core.settings import get_settings

DEFAULT_API = "http://127.0.0.1:8000"
DESCRIPTION = ("Find manipulated faces in images and videos: scan files here, or run the service (serve; or api, "
               "worker and beat) and manage its keys, backlogs and models. `deepfake COMMAND --help` says more.")


def cmd_scan(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from cli.scan import ScanPool, scan_files, scan_processes

    settings = get_settings()
    # Before any process starts: scanning processes would otherwise each fail to load it, over and over.
    if model_runtime(args.model) == "tensorflow":
        quiet.import_tensorflow()  # with ONNX Runtime a scan never needs TensorFlow
    files = media_files(args.paths)
    if not files:
        return failures.fail("no media files found in " + ", ".join(args.paths), failures.EXIT_USAGE)
    processes = scan_processes(args.processes, len(files))
    interactive = sys.stderr.isatty()
    with contextlib.ExitStack() as stack:
        if processes > 1:
            failures.stop_on_sigterm()  # the pool is terminated on the way out, not left writing to a closed pipe
            found = stack.enter_context(ScanPool(settings, args.model, processes)).scan(files)
        else:
            from pipeline import load_classifier

            try:
                classifier = load_classifier(args.model or settings.model_path, settings.classify_batch_size,
                                             runtime=settings.inference_runtime)
            except (OSError, ValueError) as exc:  # e.g. DEEPFAKE_INFERENCE_RUNTIME=onnx and no ONNX export
                return failures.fail(f"the model cannot be loaded: {exc}", failures.EXIT_USAGE)
            found = scan_files(files, classifier, settings, lambda path: _video_progress(path, interactive))
        rows = []
        with tqdm(total=len(files), desc="scanning", unit="file", disable=len(files) < 2 or not interactive) as bar:
            for row in found:
                if args.json:
                    print(json.dumps(row), flush=True)
                rows.append(row)
                bar.update(1)
    if not args.json:
        _print_table(rows)
    return 1 if any("error" in r for r in rows) else 0


def model_runtime(model_option: str | None = None) -> str:
    """What will run the model (``onnxruntime`` or ``tensorflow``), read from its metadata alone; a
    ``failures.UsageError`` naming ``--model`` or ``DEEPFAKE_MODEL_PATH`` when it cannot be loaded. Every
    command that analyses media checks this before it starts anything, so a missing model is one line at
    start-up rather than a worker that fails every job."""
    from cli.scan import MODEL_FORMS, model_problem
    from pipeline.classifier import inference_runtime

    settings = get_settings()
    if problem := model_problem(model_option or settings.model_path):
        source = "--model" if model_option else "DEEPFAKE_MODEL_PATH"
        raise failures.UsageError(f"{source}: {problem}; give {MODEL_FORMS}")
    try:
        return inference_runtime(model_option or settings.model_path, settings.inference_runtime)
    except (OSError, ValueError) as exc:  # e.g. DEEPFAKE_INFERENCE_RUNTIME=onnx and no ONNX export
        raise failures.UsageError(f"the model cannot be loaded: {exc} (DEEPFAKE_INFERENCE_RUNTIME="
                                  f"{settings.inference_runtime})") from None


def _video_progress(path: Path, interactive: bool):
    """A progress callback drawing one bar per video (frames analysed so far)."""
    from tqdm import tqdm

    if not interactive:
        return None
    bar = tqdm(total=100, desc=path.name, unit="%", leave=False)

    def update(fraction: float) -> None:
        bar.update(round(fraction * 100) - bar.n)
        if fraction >= 1.0:
            bar.close()

    return update


def _print_table(rows: list[dict]) -> None:
    width = min(max(len(r["path"]) for r in rows), 60)
    print(f"{'file':<{width}}  {'verdict':<10} {'score':>6} {'faces':>5} {'ms':>7}")
    for r in rows:
        name = r["path"] if len(r["path"]) <= width else "…" + r["path"][-width + 1:]
        if "error" in r:
            error = r["error"]
            print(f"{name:<{width}}  {'error':<10} {'':>6} {'':>5} {'':>7}  {error['code']}: {error['message']}")
            continue
        score = "-" if r["score"] is None else f"{r['score']:.3f}"
        print(f"{name:<{width}}  {r['verdict']:<10} {score:>6} {len(r['faces']):>5} {r['timings_ms']['total']:>7.0f}")


def cmd_migrate(_args: argparse.Namespace | None = None) -> int:
    from core.migrate import upgrade

    upgrade()
    return 0


def _auth_refused(host: str) -> bool:
    """True (with the reason on stderr) when DEEPFAKE_AUTH=off and ``host`` is not loopback."""
    from api.auth import AuthModeRefused, check_auth_mode

    try:
        check_auth_mode(get_settings(), host)
    except AuthModeRefused as exc:
        print(f"error: {exc}", file=sys.stderr)
        return True
    return False


def cmd_api(args: argparse.Namespace) -> int:
    import uvicorn

    if _auth_refused(args.host):
        return failures.EXIT_USAGE
    model_runtime()  # the API reads the model's identity for every upload (dedup)
    cmd_migrate()
    uvicorn.run("api.app:app", host=args.host, port=args.port, workers=args.workers)
    return 0


def _worker_argv(extra: list[str], loglevel: str = "INFO", banner: bool = True) -> list[str]:
    quiet_flag = [] if banner else ["--quiet"]  # Celery's 30-line start-up banner
    return [sys.executable, "-m", "celery", "-A", "workers.celery_app", *quiet_flag, "worker", "--loglevel", loglevel,
            *extra]


def serve_worker_argv(verbose: bool) -> list[str]:
    """``serve``'s worker: the embedded broker has one consumer, and the solo pool keeps the model in that one
    process. ``--beat``: the same process also queues due webhook retries and unsent batch items, so serve needs
    nothing else. Unless ``verbose``, without the banner and the warning about running as root (cli/quiet.py)."""
    argv = _worker_argv(["--pool", "solo", "--concurrency", "1", "--beat"], banner=verbose)
    return argv if verbose else [argv[0], *quiet.SERVE_WORKER_PYTHON, *argv[1:]]


def worker_argv(args: argparse.Namespace) -> list[str]:
    """The ``celery worker`` command line for ``deepfake worker`` and its options; whatever follows ``--``
    goes to celery unchanged."""
    extra = [*(["--concurrency", str(args.concurrency)] if args.concurrency else []),
             *(["--queues", args.queues] if args.queues else []),
             *(["--pool", args.pool] if args.pool else []),
             *(["--hostname", args.hostname] if args.hostname else [])]
    passed = args.celery_args[1:] if args.celery_args[:1] == ["--"] else args.celery_args
    return _worker_argv([*extra, *passed], args.loglevel)


def cmd_worker(args: argparse.Namespace) -> int:
    get_settings()  # a bad variable is one line here, not a traceback from every worker process
    model_runtime()  # and a missing model too
    os.execv(sys.executable, worker_argv(args))
    return 0  # not reached


def cmd_beat(_args: argparse.Namespace) -> int:
    """The scheduler that queues due webhook retries and unsent batch items and recovers jobs whose worker or
    message was lost: run exactly one per deployment."""
    get_settings()  # a bad variable is one line here, not a traceback from the scheduler
    argv = [sys.executable, "-m", "celery", "-A", "workers.celery_app", "beat", "--loglevel", "INFO"]
    os.execv(sys.executable, argv)
    return 0  # not reached


def cmd_webhook_secret(_args: argparse.Namespace) -> int:
    """Print the secret that signs callback_url deliveries (give it to receivers)."""
    from core.db import session_scope
    from core.webhooks import callback_secret

    cmd_migrate()
    with session_scope() as session:
        print(callback_secret(session, get_settings()))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """API plus one worker, on embedded defaults unless DATABASE_URL/REDIS_URL say otherwise."""
    import uvicorn

    from cli import serve

    if _auth_refused(args.host):
        return failures.EXIT_USAGE
    model_runtime()
    serve.check_broker(get_settings())
    try:
        sock = serve.listening_socket(args.host, args.port)
    except serve.PortTaken as exc:
        return failures.fail(str(exc))
    settings = serve.public_url_follows_port(args.host, args.port)
    try:
        serve.make_data_folder(settings)
    except failures.UsageError:
        sock.close()
        raise
    cmd_migrate()
    serve.announce_admin_key(settings)
    # Supervised: restarted if it stops unasked (see cli/supervisor.py), so accepted jobs still run.
    worker = Supervisor(serve_worker_argv(args.verbose),
                        stderr_to=None if args.verbose else lambda lines: quiet.forward(lines, sys.stderr))
    # uvicorn shuts down on SIGTERM and then raises the signal again under the handler that was there
    # before it: with Python's default one, this process would die on the spot and leave the worker running.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        print(f"serving on http://{args.host}:{args.port} (docs at /docs); data in {settings.data_dir}", flush=True)
        uvicorn.Server(uvicorn.Config("api.app:app", host=args.host, port=args.port)).run(sockets=[sock])
    finally:
        worker.stop(timeout=30)
        sock.close()
    return 0


def cmd_keys_create(args: argparse.Namespace) -> int:
    """Print the new key's details, then the key alone on the last line (it is shown only this once)."""
    from core import keys
    from core.db import session_scope

    cmd_migrate()
    try:
        with session_scope() as session:
            new = keys.create(session, name=args.name, scopes=args.scope or list(keys.DEFAULT_SCOPES),
                              tenant=args.tenant)
    except keys.KeyRequestError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"created key {new.row.prefix} ({new.row.name}) for tenant {new.row.tenant}, "
          f"scopes {','.join(new.row.scopes)}; store it now, it is not shown again:")
    print(new.secret)
    return 0


def cmd_keys_list(_args: argparse.Namespace) -> int:
    from core import keys
    from core.db import session_scope

    cmd_migrate()
    with session_scope() as session:
        rows = keys.listed(session)
        print(f"{'prefix':<14} {'state':<8} {'tenant':<16} {'scopes':<22} {'created':<20} name")
        for row in rows:
            state = "revoked" if row.revoked_at else "active"
            print(f"{row.prefix:<14} {state:<8} {row.tenant:<16} {','.join(row.scopes):<22} "
                  f"{row.created_at:%Y-%m-%d %H:%M:%S}  {row.name}")
    return 0


def cmd_keys_revoke(args: argparse.Namespace) -> int:
    from core import keys
    from core.db import session_scope

    cmd_migrate()
    try:
        with session_scope() as session:
            row = keys.revoke(session, args.prefix)
    except keys.KeyRequestError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"revoked {row.prefix} ({row.name})")
    return 0


def _add_keys(sub) -> None:
    from core.keys import SCOPES
    from core.tables import DEFAULT_TENANT

    keys = _command(sub, "keys", "create, list and revoke API keys").add_subparsers(
        dest="keys_command", required=True)
    p = _command(keys, "create", "a new key; printed alone on the last line, once")
    p.add_argument("--name", required=True, help="who or what uses it")
    p.add_argument("--scope", action="append", choices=SCOPES,
                   help="repeat for several (default: jobs); admin sees every tenant")
    p.add_argument("--tenant", default=DEFAULT_TENANT, help="whose jobs it sees")
    p.set_defaults(func=cmd_keys_create)
    _command(keys, "list", "every key: prefix, state, tenant, scopes").set_defaults(func=cmd_keys_list)
    p = _command(keys, "revoke", "revoke the key with this prefix (as `keys list` shows it)")
    p.add_argument("prefix", help="the key's prefix, as `keys list` shows it (dfk_...)")
    p.set_defaults(func=cmd_keys_revoke)


def _exit_on_signal(_signum: int, _frame) -> None:
    raise SystemExit(0)  # a stop that was asked for; the finally blocks on the way out stop the worker


def cmd_backlog_submit(args: argparse.Namespace) -> int:
    from cli.backlog import BacklogError, submit

    try:
        batch_id = submit(args.source, args.api, args.priority, args.callback_url, args.state,
                          progress=sys.stderr.isatty(), parallel=args.parallel, model=args.model)
    except (BacklogError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(batch_id)
    return 0


def cmd_backlog_results(args: argparse.Namespace) -> int:
    from cli.backlog import BacklogError, results

    try:
        results(args.batch, args.api, args.format)
    except BacklogError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def _add_backlog(sub) -> None:
    backlog = _command(sub, "backlog", "submit a backlog as a batch and export its results").add_subparsers(
        dest="backlog_command", required=True)
    p = _command(backlog, "submit", "a folder, an s3://bucket/prefix or a manifest (JSONL/CSV) as one batch; "
                 "resumable: run it again to send what is missing. Prints the batch ID.")
    p.add_argument("source", help="a folder (every file in it, read by content), s3://bucket/prefix, or a "
                                  "JSON-lines/CSV manifest of url, s3_uri or s3_prefix items")
    p.add_argument("--api", default=DEFAULT_API, help="where the service runs (key: DEEPFAKE_API_KEY)")
    p.add_argument("--priority", choices=["bulk", "interactive"], default="bulk",
                   help="the lane: bulk runs whenever no interactive job waits")
    p.add_argument("--callback-url", help="receives batch.completed when every item has ended")
    p.add_argument("--state", help="resume file (default: one per source under the data folder, "
                                   "DEEPFAKE_DATA_DIR/backlog/)")
    p.add_argument("--parallel", type=positive, default=4, help="uploads in flight at once, for a folder")
    p.add_argument("--model", help="the model the batch must run on (name or name:version); refused otherwise")
    p.set_defaults(func=cmd_backlog_submit)
    p = _command(backlog, "results", "write a batch's results to standard output, one row per item")
    p.add_argument("batch", help="the batch ID that `backlog submit` printed")
    p.add_argument("--format", choices=["jsonl", "csv"], default="jsonl", help="JSON lines or CSV with a header")
    p.add_argument("--api", default=DEFAULT_API, help="where the service runs (key: DEEPFAKE_API_KEY)")
    p.set_defaults(func=cmd_backlog_results)


class _HelpWithDefaults(argparse.HelpFormatter):
    """Adds "(default: X)" to an option's help when it has a default its text does not already name."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.default in (None, False, argparse.SUPPRESS) or "default" in text or not action.option_strings:
            return text
        return f"{text} (default: %(default)s)"


class _Parser(argparse.ArgumentParser):
    """Every command's parser (subcommands inherit the class) shows the defaults in its help, and says
    what is wrong with a command line in one ``error:`` line, as the commands do (exit status 2)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _HelpWithDefaults)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        self.exit(failures.EXIT_USAGE, f"error: {self.prog}: {message}; see `{self.prog} --help`\n")

    def parse_known_args(self, args=None, namespace=None):
        # argparse hands a subcommand's unknown options up to `deepfake`, which names itself in the error, and
        # reports a missing argument before an unknown option: the command that has the options says so first.
        if args is not None and not any(isinstance(a, argparse._SubParsersAction) for a in self._actions):
            self._refuse_unknown_options(args)
        return super().parse_known_args(args, namespace)

    def _refuse_unknown_options(self, args: list[str]) -> None:
        known = self._option_string_actions
        for arg in args:
            if arg == "--":
                return  # what follows is passed on (`deepfake worker -- ...`) or positional
            name = arg.split("=", 1)[0]
            if (not arg.startswith("-") or arg == "-" or self._negative_number_matcher.match(arg) or name in known
                    or arg[:2] in known  # -c4
                    or (name.startswith("--") and any(option.startswith(name) for option in known))):  # --proc
                continue
            self.error(f"unrecognized arguments: {arg}")


PROCESSES_PER_CORE = 2


def _whole_number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def process_count(text: str) -> int:
    """The type of ``--processes``, ``--workers`` and ``--concurrency``: 1 up to ``PROCESSES_PER_CORE`` times
    the cores this command may run on. Each process is busy on the CPU and holds a model of its own: past
    one per core they only take turns and fill the memory; twice leaves room for time spent waiting on files."""
    from pipeline.threads import available_cores

    count, cores = _whole_number(text), available_cores()
    most = PROCESSES_PER_CORE * cores
    if not 1 <= count <= most:
        raise argparse.ArgumentTypeError(f"{count} is not between 1 and {most} ({PROCESSES_PER_CORE} per core, "
                                         f"{cores} cores here)")
    return count


def positive(text: str) -> int:
    """The type of counts that must be at least 1 (``--parallel``)."""
    count = _whole_number(text)
    if count < 1:
        raise argparse.ArgumentTypeError(f"{count} is below 1")
    return count


def port_number(text: str) -> int:
    """The type of ``--port``: 0 (any free port) to 65535."""
    port = _whole_number(text)
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port: expected 0 to 65535")
    return port


def _command(sub, name: str, help_text: str, **kwargs) -> argparse.ArgumentParser:
    """A subcommand whose own --help starts with the line the command list shows."""
    return sub.add_parser(name, help=help_text, description=kwargs.pop("description", help_text), **kwargs)


def _add_servers(sub) -> None:
    for name, func, help_text in (("serve", cmd_serve, "the API and one worker in one command, on embedded "
                                                       "defaults (SQLite, a local media folder) unless "
                                                       "DATABASE_URL/REDIS_URL are set"),
                                  ("api", cmd_api, "the HTTP API only (workers run as `deepfake worker`)")):
        p = _command(sub, name, help_text)
        p.add_argument("--host", default="127.0.0.1",
                       help="address to listen on; 0.0.0.0 for every interface (then keys are required)")
        p.add_argument("--port", type=port_number, default=8000,
                       help="port to listen on" + ("; webhook links follow it unless DEEPFAKE_PUBLIC_URL is set"
                                                   if name == "serve" else ""))
        if name == "api":
            p.add_argument("--workers", type=process_count, default=1,
                           help="API processes (uvicorn workers), 1 to twice the cores")
        else:
            p.add_argument("--verbose", action="store_true",
                           help="also show the worker's banner, TensorFlow's start-up lines and the "
                                "scheduler's periodic tasks")
        p.set_defaults(func=func)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="deepfake", description=DESCRIPTION)
    sub = parser.add_subparsers(dest="command", required=True)

    p = _command(sub, "scan", "analyse files and folders in-process and print the verdicts",
                 description="Every file in the folders (hidden ones aside) is read by content and gets a "
                             "row. Exit status: 0 all analysed, 1 any row is an error, 2 no file found.")
    p.add_argument("paths", nargs="+", help="files and folders (folders are walked, every file gets a row)")
    p.add_argument("--json", action="store_true", help="one JSON object per file per line")
    p.add_argument("--model", help="model directory or MesoNet .h5 (default: the shipped model)")
    p.add_argument("--processes", type=process_count,
                   help="scanning processes, 1 to twice the cores (default: one per core from 64 files on, "
                        "else one)")
    p.set_defaults(func=cmd_scan)  # imports TensorFlow itself, only when the model runs on Keras

    _add_servers(sub)

    p = _command(sub, "worker", "a Celery worker; arguments after -- go to `celery worker` unchanged")
    p.add_argument("-c", "--concurrency", type=process_count,
                   help="worker processes, 1 to twice the cores (default: one per core)")
    p.add_argument("-Q", "--queues", help="comma-separated lanes to consume (default: interactive,webhooks,bulk)")
    p.add_argument("-l", "--loglevel", default="INFO", help="DEBUG, INFO, WARNING or ERROR (default INFO)")
    p.add_argument("-P", "--pool", choices=["prefork", "solo"], help="prefork (default) or solo")
    p.add_argument("-n", "--hostname", help="the worker's node name (default: celery@host)")
    # Not REMAINDER: argparse hands it nothing when the first extra argument is an option (--concurrency).
    p.add_argument("celery_args", nargs="*", help="after --: more `celery worker` options")
    p.set_defaults(func=cmd_worker)

    _command(sub, "migrate", "bring the database schema up to date (the other commands also do it as they "
             "start)").set_defaults(func=cmd_migrate)
    _command(sub, "beat", "the scheduler: webhook retries, unsent batch items, lost-job recovery (run exactly one "
             "per deployment)").set_defaults(func=cmd_beat)
    _command(sub, "webhook-secret", "print the secret that signs callback_url deliveries (give it to "
             "receivers)").set_defaults(func=cmd_webhook_secret)

    _add_backlog(sub)
    _add_keys(sub)

    add_model_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    quiet.quiet_environment()  # before anything imports TensorFlow, here or in the processes started
    args = build_parser().parse_args(argv)
    if getattr(args, "tensorflow", False):
        quiet.import_tensorflow()
    return failures.run(args.func, args)


if __name__ == "__main__":
    sys.exit(main())
