"""What ``deepfake serve`` needs besides the API and the worker: its port taken first, links that name it,
and the first start's admin key."""

from __future__ import annotations

import os
import socket

from core.settings import Settings, get_settings


class PortTaken(OSError):
    """The address cannot be listened on (in use, or not this machine's)."""


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` and listening, for uvicorn to serve on; ``PortTaken`` otherwise.

    Bound here, before anything else starts, so "serving on ..." is printed only once it is true, and a
    taken port is one line ("choose another with --port"), not a traceback after the worker started.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: a restart need not wait
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise PortTaken(f"cannot listen on {host}:{port} ({exc.strerror}): choose another with --port") from exc
    return sock


def check_broker(settings: Settings, timeout_s: float = 3.0) -> None:
    """With ``REDIS_URL`` set, one ping within ``timeout_s``: a ``UsageError`` naming it when Redis does not answer,
    instead of a worker retrying its connection a hundred times while the API accepts jobs nothing runs.
    (Unset, the broker is embedded, in the data folder: nothing to reach.)"""
    import redis

    from cli.failures import UsageError

    if settings.redis_url is None:
        return
    client = redis.Redis.from_url(settings.redis_url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s)
    try:
        client.ping()
    except (redis.RedisError, OSError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UsageError(f"REDIS_URL={_without_password(settings.redis_url)!r}: Redis does not answer ({reason}): "
                         "start it, or unset REDIS_URL to use the embedded broker") from None
    finally:
        client.close()


def _without_password(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if not parts.password:
        return url
    return parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@", 1)).geturl()


def make_data_folder(settings: Settings) -> None:
    """``DEEPFAKE_DATA_DIR``, made if missing; a ``UsageError`` naming it when it cannot be (a file is there)."""
    from cli.failures import UsageError

    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # FileExistsError, NotADirectoryError, PermissionError
        raise UsageError(f"DEEPFAKE_DATA_DIR={str(settings.data_dir)!r} is not valid: expected a folder this user "
                         f"can write to or create ({exc.strerror})") from None


def public_url_follows_port(host: str, port: int) -> Settings:
    """Settings whose ``public_url`` (the base of webhook links) is this server's address, unless
    ``DEEPFAKE_PUBLIC_URL`` was set. Written to the environment, so the embedded worker, which writes
    the links, reads the same."""
    if "public_url" in get_settings().model_fields_set:
        return get_settings()
    reachable = "127.0.0.1" if host in ("0.0.0.0", "") else "[::1]" if host == "::" else host
    reachable = f"[{reachable}]" if ":" in reachable and not reachable.startswith("[") else reachable
    os.environ["DEEPFAKE_PUBLIC_URL"] = f"http://{reachable}:{port}"
    get_settings.cache_clear()
    return get_settings()


def announce_admin_key(settings: Settings) -> None:
    """First start: make an admin key into a file only this user can read, and say where it is."""
    from core import keys
    from core.db import session_scope

    if settings.auth == "off":
        print("authentication is off (DEEPFAKE_AUTH=off): serving loopback callers only", flush=True)
        return
    with session_scope() as session:
        written = keys.ensure_admin_key(session, settings.data_dir)
    path = written or settings.data_dir / keys.ADMIN_KEY_FILE
    if written or path.is_file():
        print(f"admin API key in {path.resolve()} (readable by this user only): "
              f"curl -H \"Authorization: Bearer $(cat {path})\" ...", flush=True)
    else:
        print("an admin API key exists; `deepfake keys create --scope admin` makes another", flush=True)
