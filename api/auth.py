"""Authentication: the one FastAPI dependency every ``/v1`` route takes (``core.keys`` owns the rules).

``Authorization: Bearer <key>``. A missing, malformed, unknown or revoked key: 401 ``unauthorized`` with
``WWW-Authenticate: Bearer``; a key without the route's scope: 403 ``forbidden``. With
``DEEPFAKE_AUTH=off`` every caller is the local operator (an admin), and only loopback callers are
served: the CLI refuses to start the API that way on any other address (``check_auth_mode``).
"""

from __future__ import annotations

import ipaddress
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.errors import ApiError
from core import keys, ratelimit
from core.db import session_scope
from core.keys import Principal
from core.settings import Settings, get_settings

# Declares the scheme in the OpenAPI document (``/docs`` gets its Authorize button and sends the header);
# it decides nothing: ``auto_error=False`` hands on ``None`` for a missing key and ``principal`` judges.
BEARER = HTTPBearer(scheme_name="APIKey", bearerFormat="API key", auto_error=False,
                    description="An API key: `Authorization: Bearer <key>` (`deepfake keys create`).")


class AuthModeRefused(RuntimeError):
    """Authentication is off while the API would listen beyond loopback."""


def is_loopback(host: str | None) -> bool:
    if host in ("localhost",):
        return True
    try:
        return ipaddress.ip_address((host or "").strip("[]")).is_loopback
    except ValueError:
        return False


def check_auth_mode(settings: Settings, host: str) -> None:
    """Raise ``AuthModeRefused`` when ``DEEPFAKE_AUTH=off`` and ``host`` is not a loopback address."""
    if settings.auth == "off" and not is_loopback(host):
        raise AuthModeRefused(f"DEEPFAKE_AUTH=off is allowed only on loopback, not on {host}; "
                              "create a key with `deepfake keys create` instead")


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message, headers={"WWW-Authenticate": "Bearer"})


def _presented_key(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("send an API key: Authorization: Bearer <key>")
    return token.strip()


def principal(request: Request,
              _declared: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)] = None) -> Principal:
    """The caller, or 401; 429 ``rate_limited`` past its key's rate limit. The key is checked in a session
    of its own, closed at once, so that no transaction stays open while the request's body streams in."""
    settings = get_settings()
    if settings.auth == "off":
        if not is_loopback(request.client.host if request.client else None):
            raise _unauthorized("authentication is off here, and then only loopback callers are served")
        return keys.LOCAL_OPERATOR
    presented = _presented_key(request)
    with session_scope() as session:
        found = keys.authenticate(session, presented)
    if found is None:
        raise _unauthorized("the API key is not valid (unknown or revoked)")
    _limit(settings, found, request)
    return found


def _limit(settings: Settings, found: Principal, request: Request) -> None:
    """Take a token; the RateLimit-* headers go on whatever answer follows (``api.limits`` adds them)."""
    decision = ratelimit.take(settings, found.key_id)
    if decision is None:
        return
    request.state.rate_limit = decision
    if not decision.allowed:
        raise ApiError(429, "rate_limited", f"too many requests with this key; retry after {decision.retry_after_s} s",
                       headers=decision.headers())


def requires(scope: str):
    """A dependency: the caller, when its key carries ``scope`` (admin carries every scope); else 403."""

    def caller(found: Annotated[Principal, Depends(principal)]) -> Principal:
        if not found.may(scope):
            raise ApiError(403, "forbidden", f"this key lacks the {scope!r} scope")
        return found

    return caller


JobsCaller = Annotated[Principal, Depends(requires(keys.JOBS))]
WebhooksCaller = Annotated[Principal, Depends(requires(keys.WEBHOOKS))]
