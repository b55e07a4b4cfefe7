"""What a command does when it cannot go on: one line on stderr that says what to do, and an exit status.

A traceback tells a newcomer nothing they can act on (60 lines ending in ``ConnectError`` mean "start the
API"), so the failures a user can cause or fix are caught here, around every command, and turned into
one ``error: ...`` line. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

EXIT_FAILED = 1
EXIT_USAGE = 2  # what argparse uses: the command line or the configuration is wrong, nothing was attempted
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for Ctrl-C
EXIT_TERMINATED = 143  # 128 + SIGTERM
EXIT_PIPE_CLOSED = 141  # 128 + SIGPIPE, what a shell reports for a writer whose reader went away (``| head``)


class Terminated(Exception):
    """SIGTERM arrived while ``stop_on_sigterm`` was in force: unwinds like Ctrl-C, so what runs is cleaned up."""


def stop_on_sigterm() -> None:
    """From now on SIGTERM raises ``Terminated`` in the main thread (exit status 143 from ``run``) instead of
    killing this process on the spot: its ``finally`` blocks and context managers still stop what it started."""
    import signal

    def terminated(_signum: int, _frame) -> None:
        raise Terminated

    signal.signal(signal.SIGTERM, terminated)


class UsageError(Exception):
    """The configuration or the command line cannot work, found before anything started: the message is the
    line to print, after ``error: ``, and the exit status is ``EXIT_USAGE``."""


def run(command: Callable[[argparse.Namespace], int | None], args: argparse.Namespace) -> int:
    """``command(args)``'s exit status, or the status of the failure it met (after its one line)."""
    import httpx
    from sqlalchemy.exc import OperationalError

    from core.settings import SettingsError

    try:
        status = command(args) or 0
        sys.stdout.flush()  # inside the try: a reader that went away shows here, not as an exit-time traceback
        return status
    except BrokenPipeError:
        # Not an error to report: `| head` read what it wanted. Python would complain again when it
        # flushes stdout at exit, so stdout points at /dev/null from here on.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_PIPE_CLOSED
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Terminated:  # asked to stop, by a supervisor or `kill`: nothing to report
        return EXIT_TERMINATED
    except (SettingsError, UsageError) as exc:
        return fail(str(exc), EXIT_USAGE)
    except httpx.TransportError as exc:
        return fail(_unreachable_api(exc))
    except OperationalError as exc:
        return fail(f"the database is unreachable ({_first_line(exc.orig)}): check DATABASE_URL and that "
                    "the server runs")


def fail(message: str, status: int = EXIT_FAILED) -> int:
    print(f"error: {message}", file=sys.stderr)
    return status


def _unreachable_api(exc) -> str:
    import httpx

    try:
        url = exc.request.url
        where = f"{url.scheme}://{url.netloc.decode()}"
    except RuntimeError:  # an error raised before any request was made has none attached
        where = "the API"
    if isinstance(exc, httpx.TimeoutException):
        return f"{where} did not answer in time ({type(exc).__name__}); try again, or check the service's log"
    return (f"cannot reach the API at {where} ({_first_line(exc) or type(exc).__name__}): start it with "
            "`deepfake serve`, or point --api at where it runs")


def _first_line(exc: BaseException | None) -> str:
    return str(exc).strip().splitlines()[0] if exc is not None and str(exc).strip() else ""
