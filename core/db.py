"""Engine and sessions: the one place sessions come from."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import psycopg
from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, close_all_sessions, sessionmaker

from core import pgdeadline, ratelimit
from core.blobs import _http, _s3_client, default_blob_store
from core.settings import Settings, get_settings


def make_engine(url: str, settings: Settings | None = None) -> Engine:
    if url.startswith("sqlite"):
        _private_sqlite_files(url)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    settings = settings or get_settings()
    # Without these a stopped database holds every request until the pool gives up (30 s) and a frozen one
    # holds new connections for ever: libpq's connect timeout, the pool's wait, the server's statement limit.
    connect_args = {"connect_timeout": settings.db_connect_timeout_s}
    if settings.db_statement_timeout_s > 0:
        connect_args["options"] = f"-c statement_timeout={int(settings.db_statement_timeout_s * 1000)}"
    engine = create_engine(url, pool_size=5, max_overflow=10, pool_timeout=settings.db_pool_timeout_s,
                           connect_args=connect_args)
    if engine.dialect.driver == "psycopg":
        _bound_waits(engine, settings)
    return engine


def _bound_waits(engine: Engine, settings: Settings) -> None:
    """A frozen server (``core.pgdeadline``): a pooled connection is pinged at checkout and must answer
    within the connect timeout, else it is dropped and a new one tried (which the connect timeout bounds);
    a statement already sent gives up a connect timeout after the server's own statement timeout."""
    statement_s = settings.db_statement_timeout_s
    deadline = statement_s + settings.db_connect_timeout_s if statement_s > 0 else None

    @event.listens_for(engine, "do_connect")
    def _connect(_dialect, _record, cargs, cparams):
        return pgdeadline.connect(deadline, *cargs, **cparams)

    @event.listens_for(engine, "checkout")
    def _ping(dbapi_connection, _record, _proxy) -> None:  # instead of pool_pre_ping, which has no deadline
        try:
            pgdeadline.ping_within(dbapi_connection, settings.db_connect_timeout_s)
        except psycopg.OperationalError as exc:
            raise DisconnectionError(str(exc)) from exc  # the pool drops it and connects afresh


def unavailable(exc: BaseException) -> bool:
    """True when ``exc`` says the database cannot be reached or did not answer in time (try again later),
    as opposed to a request it refused (a constraint, bad SQL): those are bugs, not outages."""
    if isinstance(exc, (OperationalError, InterfaceError, PoolTimeout)):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def _private_sqlite_files(url: str) -> None:
    """The embedded database holds the callback signing secret and webhook endpoints' secrets: it is made
    readable by its owner only (0600), as the media and ``admin.key`` are, before SQLite first opens it.
    SQLite gives its -wal, -shm and -journal files the database file's mode; any left from an older
    version are narrowed too."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))  # no-op on an existing file but for the mode
    for found in (path, *(Path(f"{path}{end}") for end in ("-wal", "-shm", "-journal"))):
        with contextlib.suppress(FileNotFoundError):
            found.chmod(0o600)


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    # WAL lets the API read while the worker writes in the embedded default.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


@lru_cache(maxsize=1)
def engine() -> Engine:
    return make_engine(get_settings().effective_database_url)


@lru_cache(maxsize=1)
def session_factory() -> sessionmaker[Session]:
    return sessionmaker(engine(), expire_on_commit=False)


@contextmanager
def session_scope() -> Iterator[Session]:
    """A session whose work commits on success and rolls back on error."""
    session = session_factory()()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def reset(close: bool = True) -> None:
    """Forget cached settings, engine and sessions.

    A forked worker child passes ``close=False``: its inherited connections
    belong to the parent and must be dropped, not closed.
    """
    if engine.cache_info().currsize:
        if close:
            close_all_sessions()
        engine().dispose(close=close)
    engine.cache_clear()
    session_factory.cache_clear()
    get_settings.cache_clear()
    default_blob_store.cache_clear()
    _s3_client.cache_clear()
    _http.cache_clear()
    ratelimit.forget()
