"""Postgres connections that give up on a server that stops answering.

A stopped server (SIGSTOP, a paused VM) accepts connections and bytes without answering: the kernel still
acknowledges them, so neither TCP keepalives nor ``tcp_user_timeout`` notice, and the server's
``statement_timeout`` cannot fire in a process that does not run. Only a deadline in the client ends the
wait. ``core.db`` builds its engine's connections here (``connect``) and pings each one at checkout
(``ping_within``), so a request answers 503 within seconds instead of waiting on a pooled connection.
"""

from __future__ import annotations

import psycopg
from psycopg import errors


class AnswerTimeout(psycopg.OperationalError):
    """The server did not answer within the connection's deadline; the connection is closed."""


class DeadlineConnection(psycopg.Connection):
    """A psycopg connection whose every wait on the server ends after ``deadline_s`` seconds (None: never).

    Past it the connection is closed (its protocol state is unknown) and ``AnswerTimeout`` raised: an
    ``OperationalError`` on a closed connection, which SQLAlchemy's pool discards as a disconnect."""

    deadline_s: float | None = None

    def wait(self, gen, interval: float = 0.1, timeout: float | None = None):
        limit = timeout if timeout is not None else self.deadline_s
        try:
            return super().wait(gen, interval=interval, timeout=limit)
        # psycopg's own timeout exception is private; it is an OperationalError, re-raised as a public one.
        except errors._WaitTimeout as exc:
            self.pgconn.finish()
            raise AnswerTimeout(f"the database did not answer within {limit:g} s") from exc


def connect(deadline_s: float | None, *args, **kwargs) -> DeadlineConnection:
    """``psycopg.connect`` with the deadline set (the connect itself is bounded by ``connect_timeout``)."""
    conn = DeadlineConnection.connect(*args, **kwargs)
    conn.deadline_s = deadline_s
    return conn


def ping_within(conn: DeadlineConnection, seconds: float) -> None:
    """``SELECT 1`` that must answer within ``seconds``; raises ``psycopg.OperationalError`` otherwise."""
    usual, conn.deadline_s = conn.deadline_s, seconds
    try:
        conn.execute("SELECT 1")
    finally:
        conn.deadline_s = usual
